// The service worker: shows the notifications the service pushes (Web Push) and opens the
// page they point to. The payload is JSON: {kind, ar: [title, text], en: [title, text], url, tag}.
self.addEventListener("push", (event) => {
  let msg = {};
  try { msg = event.data ? event.data.json() : {}; } catch { /* not ours */ }
  const lang = (self.navigator.language || "ar").toLowerCase().startsWith("en") ? "en" : "ar";
  const [title, body] = msg[lang] || msg.ar || ["صيدليات خليفة", ""];
  event.waitUntil(self.registration.showNotification(title, {
    body, tag: msg.tag || msg.kind || "khalifa", renotify: true, lang, dir: lang === "ar" ? "rtl" : "ltr",
    icon: "/favicon.ico", data: { url: msg.url || "#/inbox" },
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL("/" + (event.notification.data?.url || ""), self.location.origin).href;
  event.waitUntil((async () => {
    const open = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    const same = open.find((c) => new URL(c.url).origin === self.location.origin);
    if (same) { await same.focus(); return same.navigate(target).catch(() => {}); }
    return self.clients.openWindow(target);
  })());
});
