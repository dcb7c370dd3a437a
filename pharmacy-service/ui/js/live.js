// Live events over GET /ws: JSON envelopes with sequence numbers; on reconnect the last seen
// number is sent back so the server replays what was missed (or says to reload).

const handlers = new Map();
let ws = null;
let lastSeq = 0;
let retry = 0;
let stopped = true;
let stateCb = () => {};

/** Registers a handler for an event type ("*" for all). */
export function on(type, f) {
  if (!handlers.has(type)) handlers.set(type, []);
  handlers.get(type).push(f);
}

/** Called with "connecting" | "live" | "down". */
export const onState = (f) => (stateCb = f);

function dispatch(msg) {
  // An envelope {seq, event:{type,...}} or a flat event {type, seq, ...}.
  const ev = msg && msg.event && typeof msg.event === "object" ? { ...msg.event, seq: msg.seq, at: msg.at } : msg;
  if (!ev || !ev.type) return;
  if (typeof ev.seq === "number" && !ev.ephemeral) {
    if (ev.seq <= lastSeq) return;
    lastSeq = ev.seq;
  }
  for (const f of [...(handlers.get(ev.type) || []), ...(handlers.get("*") || [])]) {
    try { f(ev); } catch (e) { console.error(e); }
  }
}

function connect() {
  if (stopped) return;
  stateCb("connecting");
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const q = lastSeq ? `?since=${lastSeq}` : "";
  ws = new WebSocket(`${proto}//${location.host}/ws${q}`);
  ws.onopen = () => { retry = 0; stateCb("live"); };
  ws.onmessage = (m) => {
    let data;
    try { data = JSON.parse(m.data); } catch { return; }
    // The frames are the OpenAPI components `LiveFrame` and `EventFrame`.
    if (data?.type === "resync") {
      lastSeq = data.seq;
      dispatch({ type: "resync" });
    } else if (data?.type === "hello") {
      if (!lastSeq) lastSeq = data.seq;
      dispatch({ type: "hello", user: data.user, whatsapp: data.whatsapp, ephemeral: true });
    } else if (data) dispatch(data);
  };
  ws.onclose = () => {
    ws = null;
    if (stopped) return;
    stateCb("down");
    const delay = Math.min(15000, 500 * 2 ** retry++) + Math.random() * 300;
    setTimeout(connect, delay);
  };
}

/** Opens the connection (idempotent). */
export function start() {
  if (!stopped) return;
  stopped = false;
  connect();
}

/** Closes it (logout). */
export function stop() {
  stopped = true;
  lastSeq = 0;
  if (ws) ws.close();
}

/** Sends a client event (typing notices) when connected. */
export function send(obj) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj));
}
