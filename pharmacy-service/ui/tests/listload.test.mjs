// `node --test pharmacy-service/ui/tests/listload.test.mjs`: ui/js/listload.js, how the chat
// list's loads and live events share the list (an older answer never undoes newer news).
import { test } from "node:test";
import assert from "node:assert/strict";
import { ListLoads, pruned } from "../js/listload.js";

test("only the latest load is applied: an overtaken one answers late and is dropped", () => {
  const loads = new ListLoads();
  const first = loads.start();
  const second = loads.start();
  assert.equal(loads.finish(second).latest, true);
  assert.equal(loads.finish(first).latest, false);
  // A lone load, or one that finished before the next began, is the latest.
  const third = loads.start();
  assert.equal(loads.finish(third).latest, true);
});

test("a ticket changed live during a load is not pruned when it finishes", () => {
  const loads = new ListLoads();
  const n = loads.start();
  loads.touch(7);
  const { touched } = loads.finish(n);
  assert.deepEqual([...touched], [7]);
  const drop = pruned([1, 2, 7, 9], new Set([1]), { current: 9, touched });
  assert.deepEqual(drop, [2]);
});

test("changes before a load started or after it finished do not protect a ticket", () => {
  const loads = new ListLoads();
  loads.touch(3);
  const n = loads.start();
  const { touched } = loads.finish(n);
  loads.touch(4);
  assert.deepEqual(pruned([3, 4], new Set(), { current: null, touched }), [3, 4]);
});

test("every running load hears of a live change", () => {
  const loads = new ListLoads();
  const a = loads.start();
  const b = loads.start();
  loads.touch(5);
  assert.ok(loads.finish(a).touched.has(5));
  assert.ok(loads.finish(b).touched.has(5));
});
