// New-message alerts: a short tone (Web Audio, no file), a browser notification when the tab
// is hidden, and the unread count in the tab title.

let audio = null;
let baseTitle = document.title;
let unread = 0;

/** The title without the count (set after language changes). */
export function setBaseTitle(t) {
  baseTitle = t;
  render();
}

function render() {
  document.title = unread > 0 ? `(${unread}) ${baseTitle}` : baseTitle;
}

/** Sets the unread count shown in the tab title. */
export function setUnread(n) {
  unread = n;
  render();
}

/** Whether the chime is on (kept per browser; on unless turned off). */
export const soundOn = () => localStorage.getItem("sound") !== "off";

/** Turns the chime on or off. */
export function setSound(on) {
  localStorage.setItem("sound", on ? "on" : "off");
}

/** Plays the two-note chime (after the first user gesture browsers allow audio). */
export function chime() {
  if (!soundOn()) return;
  try {
    audio = audio || new AudioContext();
    const t0 = audio.currentTime;
    for (const [i, f] of [[0, 880], [1, 1320]]) {
      const o = audio.createOscillator();
      const g = audio.createGain();
      o.frequency.value = f;
      g.gain.setValueAtTime(0.0001, t0 + i * 0.12);
      g.gain.exponentialRampToValueAtTime(0.2, t0 + i * 0.12 + 0.02);
      g.gain.exponentialRampToValueAtTime(0.0001, t0 + i * 0.12 + 0.2);
      o.connect(g).connect(audio.destination);
      o.start(t0 + i * 0.12);
      o.stop(t0 + i * 0.12 + 0.22);
    }
  } catch { /* no audio device */ }
}

/** Asks for notification permission once (from a click). */
export function askPermission() {
  if ("Notification" in window && Notification.permission === "default") Notification.requestPermission().catch(() => {});
}

/** Shows a browser notification when the page is hidden; clicking focuses the ticket. */
export function notify(title, body, onClick) {
  if (!("Notification" in window) || Notification.permission !== "granted" || !document.hidden) return;
  const n = new Notification(title, { body, tag: "khalifa-msg", icon: document.querySelector("link[rel=icon]")?.href });
  n.onclick = () => { window.focus(); onClick?.(); n.close(); };
}
