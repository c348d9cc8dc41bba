import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Admission } from '../src/cache/admission.ts';

const key = (n: number) => createHash('sha256').update(`key ${n}`).digest('hex');

describe('cache admission (CACHE_ADMIT_AFTER_MISSES)', () => {
  it('admits a key on its Nth miss', () => {
    const three = new Admission(3, 1000);
    expect([three.admit(key(1)), three.admit(key(1)), three.admit(key(1))]).toEqual([
      false,
      false,
      true,
    ]);
    // Once admitted, a key that misses again (evicted, invalidated) is stored at once.
    expect(three.admit(key(1))).toBe(true);
    expect(new Admission(1, 1000).admit(key(2))).toBe(true);
  });

  it('remembers a miss for at least one window of other misses, at most two', () => {
    const a = new Admission(2, 100);
    a.admit(key(0));
    for (let i = 1; i < 100; i++) a.admit(key(i)); // one window: key 0 still counted
    expect(a.admit(key(0))).toBe(true);
    const b = new Admission(2, 100);
    b.admit(key(0));
    for (let i = 1; i <= 200; i++) b.admit(key(i)); // two windows later: forgotten
    expect(b.admit(key(0))).toBe(false);
  });

  it('admits few keys seen once (sketch collisions stay near 1%)', () => {
    const a = new Admission(2, 10_000);
    let early = 0;
    for (let i = 0; i < 50_000; i++) if (a.admit(key(i))) early += 1;
    expect(early / 50_000).toBeLessThan(0.02);
  });
});
