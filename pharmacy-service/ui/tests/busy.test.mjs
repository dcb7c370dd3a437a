// `node --test pharmacy-service/ui/tests/busy.test.mjs`: ui/js/busy.js, the policy by which the
// UI sends a request again on its own after a 503 "busy" (issue 32: an agent's send under
// contention must end in 201 or an error the agent sees, never silently lost).
import { test } from "node:test";
import assert from "node:assert/strict";
import { withBusyRetry, isBusy, retryDelay, BUSY_RETRIES } from "../js/busy.js";

const busy = (retryAfter = "1") => ({ status: 503, data: { error: { code: "busy", message: "busy" } }, retryAfter });
const created = { status: 201, data: { message: { id: 7 } }, retryAfter: null };

/** A server answering `answers` in turn; records the waits and retries it caused. */
function script(answers) {
  const log = { attempts: 0, sleeps: [], retries: [] };
  const run = () =>
    withBusyRetry(async () => answers[Math.min(log.attempts++, answers.length - 1)], {
      sleep: async (ms) => { log.sleeps.push(ms); },
      onRetry: (n, s) => log.retries.push([n, s]),
    });
  return { log, run };
}

test("a busy answer is sent again after Retry-After and the caller gets the 201", async () => {
  const { log, run } = script([busy("2"), busy(), created]);
  const answer = await run();
  assert.equal(answer.status, 201);
  assert.equal(log.attempts, 3);
  assert.deepEqual(log.sleeps, [2000, 1000]);
  assert.deepEqual(log.retries, [[1, 2], [2, 1]]);
});

test("busy past every retry ends in the busy answer, for the caller to show", async () => {
  const { log, run } = script([busy()]);
  const answer = await run();
  assert.equal(answer.status, 503);
  assert.equal(log.attempts, BUSY_RETRIES + 1);
  assert.equal(log.retries.length, BUSY_RETRIES);
});

test("other failures, a 503 that is not busy included, are not sent again", async () => {
  for (const a of [
    { status: 503, data: { error: { code: "unavailable" } }, retryAfter: "1" },
    { status: 500, data: { error: { code: "internal" } }, retryAfter: null },
    { status: 409, data: { error: { code: "conflict" } }, retryAfter: null },
    { status: 503, data: "not json", retryAfter: null },
  ]) {
    const { log, run } = script([a, created]);
    assert.equal((await run()).status, a.status);
    assert.equal(log.attempts, 1);
  }
  assert.equal(isBusy(503, null), false);
});

test("Retry-After is bounded: absent or nonsense waits 1 s, a long one 10 s", () => {
  assert.equal(retryDelay(null), 1);
  assert.equal(retryDelay("soon"), 1);
  assert.equal(retryDelay("0"), 1);
  assert.equal(retryDelay("3"), 3);
  assert.equal(retryDelay("3600"), 10);
});
