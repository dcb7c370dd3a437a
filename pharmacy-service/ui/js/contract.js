// The API contract check of the browser tests. In test mode (localStorage `contractCheck` is
// "1", set by the test before the page loads) every JSON answer is wrapped in a Proxy that
// records a read of a property its operation's OpenAPI response schema does not have:
// "GET /api/tickets/{id} (get_ticket): ticket.tags". The records go to localStorage
// `contractViolations` (kept across reloads; the Rust test reads and asserts it empty) and to
// the console. Outside test mode nothing here runs.

const KEY = "contractViolations";

/** Whether the page runs under the contract check. */
export const contractMode = (() => {
  try { return localStorage.getItem("contractCheck") === "1"; } catch { return false; }
})();

let spec = null;
/** The OpenAPI document (fetched once, only in test mode). */
function loadSpec() {
  spec ??= fetch("/api/openapi.json", { credentials: "same-origin" }).then((r) => r.json());
  return spec;
}

function record(what) {
  console.error(`API contract: ${what}`);
  let list = [];
  try { list = JSON.parse(localStorage.getItem(KEY) || "[]"); } catch { list = []; }
  if (!list.includes(what)) list.push(what);
  localStorage.setItem(KEY, JSON.stringify(list));
}

function resolve(doc, s) {
  let seen = 0;
  while (s && s.$ref && seen++ < 32) s = doc.components.schemas[s.$ref.split("/").pop()];
  return s || {};
}

/** What a schema allows: `{any}` (free-form), or its object properties and array items. */
function shape(doc, s, depth = 0) {
  s = resolve(doc, s);
  const out = { any: false, props: new Map(), items: [], object: false, array: false };
  if (depth > 24) { out.any = true; return out; }
  const types = Array.isArray(s.type) ? s.type : s.type ? [s.type] : [];
  const parts = [...(s.allOf || []), ...(s.oneOf || []), ...(s.anyOf || [])];
  if (!types.length && !parts.length && !s.properties && !s.items) out.any = true;
  if (types.includes("object") || s.properties) {
    out.object = true;
    if (!s.properties || s.additionalProperties) out.any = true;
    for (const [k, v] of Object.entries(s.properties || {})) out.props.set(k, [...(out.props.get(k) || []), v]);
  }
  if (types.includes("array") || s.items) { out.array = true; if (s.items) out.items.push(s.items); }
  for (const p of parts) {
    const sub = shape(doc, p, depth + 1);
    out.any ||= sub.any; out.object ||= sub.object; out.array ||= sub.array;
    for (const [k, v] of sub.props) out.props.set(k, [...(out.props.get(k) || []), ...v]);
    out.items.push(...sub.items);
  }
  return out;
}

// Reads every object and array answers to anyway: the language's own machinery.
const NATIVE = new Set(["then", "toJSON", "constructor", "length", "valueOf", "toString", "hasOwnProperty", "isPrototypeOf", "propertyIsEnumerable", "toLocaleString", "__proto__"]);

function wrap(doc, value, schemas, where, path) {
  if (value === null || typeof value !== "object") return value;
  const shapes = schemas.map((s) => shape(doc, s));
  if (shapes.some((s) => s.any)) return value;
  const isArray = Array.isArray(value);
  return new Proxy(value, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof prop === "symbol" || NATIVE.has(prop)) return v;
      if (isArray) {
        if (/^\d+$/.test(prop)) return wrap(doc, v, shapes.flatMap((s) => s.items), where, `${path}[]`);
        if (prop in Array.prototype) return v;
      }
      const subs = shapes.flatMap((s) => s.props.get(prop) || []);
      if (!subs.length) {
        record(`${where}: ${path ? `${path}.` : ""}${prop}`);
        return v;
      }
      return wrap(doc, v, subs, where, path ? `${path}.${prop}` : prop);
    },
  });
}

/** The operation of a request (method, path with query), as the document names it. */
function operation(doc, method, url) {
  const path = url.split("?")[0].replace(/\/+$/, "") || "/";
  const segs = path.split("/");
  // A literal segment wins over a parameter (`/api/messages/search` over `/{id}`).
  const params = (t) => t.filter((p) => p.startsWith("{")).length;
  let best = null;
  for (const [template, item] of Object.entries(doc.paths || {})) {
    const t = template.split("/");
    if (t.length !== segs.length) continue;
    if (!t.every((p, i) => (p.startsWith("{") ? segs[i] !== "" : p === segs[i]))) continue;
    const op = item[method.toLowerCase()];
    if (op && (!best || params(t) < best.n)) best = { template, op, n: params(t) };
  }
  return best;
}

/** The answer, wrapped when the page runs under the contract check. */
export async function checked(method, url, status, data) {
  if (!contractMode || data === null || typeof data !== "object") return data;
  // `pharmacy-service demo` adds its own routes under /api/demo/ (the simulated phone); they
  // are not part of the service's API, so its document does not list them.
  if (url.startsWith("/api/demo/")) return data;
  const doc = await loadSpec();
  const where = `${method} ${url.split("?")[0]}`;
  const found = operation(doc, method, url);
  if (!found) {
    record(`${where}: no such operation in the OpenAPI document`);
    return data;
  }
  const name = `${method} ${found.template} (${found.op.operationId})`;
  const response = found.op.responses?.[String(status)];
  const schema = response?.content?.["application/json"]?.schema;
  if (!schema) {
    record(`${name}: no JSON schema for status ${status}`);
    return data;
  }
  return wrap(doc, data, [schema], name, "");
}
