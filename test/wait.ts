/**
 * Waiting for a condition with a deadline instead of a fixed sleep: a fixed sleep races on a
 * busy machine (too short) or wastes time (too long).
 */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Calls `check` until it returns a truthy value (returned) or `timeoutMs` passes; then throws
 * with `what` and the last value seen.
 */
export async function eventually<T>(
  check: () => T | Promise<T>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<NonNullable<T>> {
  const { timeoutMs = 15_000, intervalMs = 20, what = 'condition' } = opts;
  const end = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await check();
    if (last) return last as NonNullable<T>;
    if (Date.now() > end) {
      throw new Error(`${what} not reached within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
    }
    await sleep(intervalMs);
  }
}
