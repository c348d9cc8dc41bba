/**
 * How much of a statement's wall time was the Node process, not the database.
 *
 * pg delivers a result through a socket callback on the event loop, so a statement's wall time
 * (sent → callback) includes however long the loop was busy with other work after the result
 * arrived. A probe timer ticks every LOOP_PROBE_MS while the loop turns; when a statement
 * finishes, the time since the loop last reached its timers before the latest turn (or since the
 * statement started, if later), less two probe periods, is time the result may have waited for
 * the process: the loop did not come round in that span. Wall time minus that is the database
 * time estimate (network included), accurate to about two probe periods. It only ever
 * subtracts a stall the loop really had, so a statement the database was slow on while the loop
 * kept turning keeps its full time.
 */

/** Period of the probe timer, and so the resolution of the estimate. */
export const LOOP_PROBE_MS = 10;

let latest = 0;
let previous = 0;
let probe: NodeJS.Timeout | undefined;

function tick() {
  previous = latest;
  latest = performance.now();
}

/** Starts the probe (once per process; unref'd, so it never keeps a process alive). */
export function startLoopProbe(): void {
  if (probe) return;
  latest = previous = performance.now();
  probe = setInterval(tick, LOOP_PROBE_MS);
  probe.unref();
}

/**
 * Of a statement that started at `started` and whose result is being handled `now` (both
 * `performance.now()`), the milliseconds it waited for a stalled event loop.
 */
export function loopWaitMs(started: number, now: number): number {
  if (!probe) return 0;
  return Math.max(0, now - Math.max(started, previous) - 2 * LOOP_PROBE_MS);
}
