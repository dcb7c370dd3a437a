// The service answers 503 with code "busy" (and Retry-After) when the database refused a write
// (held busy past its timeout): nothing was stored, so the same request may go again. The policy
// lives apart from fetch so that `node --test` checks it (ui/tests/busy.test.mjs).

/** How often a request answered "busy" is sent again before the caller sees the error. */
export const BUSY_RETRIES = 5;

/** Whether an answer is the service's 503 "busy". */
export const isBusy = (status, data) => status === 503 && data?.error?.code === "busy";

/** Seconds to wait before sending again, from a Retry-After value: 1 to 10 (1 when absent). */
export function retryDelay(retryAfter) {
  const s = Number(retryAfter);
  return Number.isFinite(s) && s > 0 ? Math.min(s, 10) : 1;
}

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `attempt()` (resolving to `{ status, data, retryAfter }`) again while it answers "busy",
 * up to `retries` more times; `onRetry(n, seconds)` is told before each wait (the composer shows
 * "retrying"). Resolves to the last answer.
 */
export async function withBusyRetry(attempt, { onRetry = () => {}, sleep = pause, retries = BUSY_RETRIES } = {}) {
  for (let n = 0; ; n++) {
    const answer = await attempt();
    if (!isBusy(answer.status, answer.data) || n >= retries) return answer;
    const seconds = retryDelay(answer.retryAfter);
    onRetry(n + 1, seconds);
    await sleep(seconds * 1000);
  }
}
