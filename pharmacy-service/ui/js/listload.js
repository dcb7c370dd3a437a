// The chat list is loaded in several requests while live events keep changing it. Two rules
// keep a slow answer from undoing newer news: only the latest load is applied (an older one,
// overtaken by a newer search or a resync, is dropped), and a ticket a live event changed while
// a load was under way is neither overwritten by that load's older rows nor pruned when the
// load finishes. Kept apart from the DOM so `node --test` checks it (ui/tests/listload.test.mjs).

/** Numbers the list loads and records the tickets live events change while each runs. */
export class ListLoads {
  constructor() {
    this.latest = 0;
    this.running = new Map(); // load number -> ids changed live since it started
  }

  /** A new load starts: its number. */
  start() {
    const n = ++this.latest;
    this.running.set(n, new Set());
    return n;
  }

  /** A live event changed ticket `id` (every running load hears of it). */
  touch(id) {
    for (const ids of this.running.values()) ids.add(id);
  }

  /** Load `n` answered (or failed): whether it is still the latest, and the ids changed live
   * while it ran. */
  finish(n) {
    const touched = this.running.get(n) || new Set();
    this.running.delete(n);
    return { latest: n === this.latest, touched };
  }
}

/** The ids of `ids` a finished load drops: not among its rows (`keep`), not the open ticket,
 * not changed live while it ran. */
export function pruned(ids, keep, { current, touched }) {
  return [...ids].filter((id) => !keep.has(id) && id !== current && !touched.has(id));
}
