/**
 * Which responses are worth storing (CACHE_ADMIT_AFTER_MISSES): a key is admitted on its Nth
 * miss within a window of recent misses, so a response asked for once never costs the copy,
 * the memory or the upstream plugin's work of preparing it for the store.
 *
 * The counts are a count-min sketch (two counters per key, the smaller one read, only the
 * smaller ones raised), in two generations that rotate every `window` counted misses: a key
 * is remembered for at least `window` and at most `2 × window` misses of other keys. This is
 * TinyLFU's "doorkeeper" idea; unlike a map of keys it costs no allocation per miss and a fixed
 * amount of memory. A collision can only admit a key early, never refuse one.
 */
export class Admission {
  #current: Uint8Array;
  #previous: Uint8Array;
  readonly #mask: number;
  #counted = 0;

  constructor(
    /** Misses a key needs before its response is stored (1: every miss is stored). */
    readonly needed: number,
    /** Counted misses per generation (CACHE_MAX_ENTRIES). */
    readonly window: number,
  ) {
    // About 32 counters per remembered key keeps early admissions near 1%.
    let size = 1024;
    while (size < window * 32 && size < 1 << 22) size *= 2;
    this.#current = new Uint8Array(size);
    this.#previous = new Uint8Array(size);
    this.#mask = size - 1;
  }

  /**
   * Counts a miss of `key` (a hex digest: its leading bits index the counters) and says whether
   * its response is now to be stored.
   */
  admit(key: string): boolean {
    if (this.needed <= 1) return true;
    const a = hexBits(key, 0) & this.#mask;
    const b = hexBits(key, 7) & this.#mask;
    const cur = this.#current;
    const prev = this.#previous;
    const ca = (cur[a] as number) + (prev[a] as number);
    const cb = (cur[b] as number) + (prev[b] as number);
    const seen = Math.min(ca, cb);
    if (seen + 1 >= this.needed) return true;
    // Conservative update: raise only the counters that gave the minimum.
    if (ca === seen) cur[a] = Math.min(255, (cur[a] as number) + 1);
    if (cb === seen) cur[b] = Math.min(255, (cur[b] as number) + 1);
    if (++this.#counted >= this.window) {
      this.#counted = 0;
      this.#previous = cur;
      this.#current = prev.fill(0);
    }
    return false;
  }
}

/** 28 bits read from seven hex digits of `key` at `from` (no substring, no parseInt). */
function hexBits(key: string, from: number): number {
  let v = 0;
  for (let i = from; i < from + 7; i++) {
    const c = key.charCodeAt(i);
    v = (v << 4) | (c <= 57 ? c - 48 : (c | 32) - 87);
  }
  return v;
}
