// The JSON API of pharmacy-service: cookie session plus X-CSRF-Token on state changes.
import { checked } from "./contract.js";
import { withBusyRetry } from "./busy.js";

let csrf = sessionStorage.getItem("csrf") || "";

/** Who is logged in: the user ({id, username, name, role, branch_id}) and their agent seat. */
export const session = { user: null, agentId: null, isAdmin: false };

/** An API failure with the server's code and message ({"error":{"code","message","details"}}). */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** Remembers the CSRF token from login or the profile. */
export function setCsrf(token) {
  csrf = token || "";
  if (csrf) sessionStorage.setItem("csrf", csrf);
  else sessionStorage.removeItem("csrf");
}

function cookieCsrf() {
  const m = document.cookie.match(/(?:^|;\s*)(?:csrf_token|csrf)=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

let onUnauthorized = () => {};
/** Called when a request answers 401 (session expired). */
export const setUnauthorizedHandler = (f) => (onUnauthorized = f);

/**
 * Performs a request; body may be an object (JSON) or FormData. A 503 "busy" (nothing stored) is
 * sent again on its own after Retry-After (`busy.js`); `onRetry(n, seconds)` hears of each retry.
 */
export async function request(method, path, body, { quiet401 = false, onRetry } = {}) {
  const headers = { Accept: "application/json" };
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrf || cookieCsrf();
  const { res, data } = await withBusyRetry(async () => {
    const res = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = text; }
    }
    return { res, status: res.status, data, retryAfter: res.headers.get("Retry-After") };
  }, { onRetry });
  if (!res.ok) {
    if (res.status === 401 && !quiet401) onUnauthorized();
    const e = (data && data.error) || {};
    throw new ApiError(res.status, e.code, e.message, e.details);
  }
  return checked(method, path, res.status, data);
}

export const get = (p, o) => request("GET", p, undefined, o);
export const post = (p, b, o) => request("POST", p, b ?? {}, o);
export const patch = (p, b) => request("PATCH", p, b);
export const put = (p, b) => request("PUT", p, b);
export const del = (p) => request("DELETE", p);

/** The rows of a list answer (`{"items": [...]}`); none for a failed or empty answer. */
export const rows = (data) => (Array.isArray(data?.items) ? data.items : []);

/** The next-page cursor of a page answer (`next_cursor`), if any. */
export const nextCursor = (data) => data?.next_cursor ?? null;

/** Builds a query string, skipping empty values. */
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") u.set(k, v);
  const s = u.toString();
  return s ? `?${s}` : "";
}

/** The display name of a customer. */
export const customerName = (c) => (c && (c.name || c.push_name || (c.phone ? `+${c.phone}` : null))) || "—";

/** URL of a stored media file. */
export const mediaUrl = (sha) => `/api/media/${encodeURIComponent(sha)}`;
