/**
 * Sign-in throttling: failed attempts are counted per account (the e-mail as typed, known or
 * not, so the limit itself reveals nothing) and per client address, in a fixed window that
 * starts with the first failure. Once either count reaches its limit, further attempts are
 * refused without checking the password until that window ends.
 *
 * An attempt is counted *before* the password is checked, atomically with the limit check, so
 * concurrent attempts (parallel requests, or many `login` aliases in one document) cannot all
 * slip under the limit; a successful sign-in takes its own count back and clears the
 * account's. Both counters are checked and charged together: an attempt refused because of
 * one is charged to neither.
 *
 * With `REDIS_URL` the counts live in Redis (one Lua script per attempt, keys with TTLs) and
 * every instance shares them; otherwise in a bounded in-process map. If Redis fails, the
 * in-process map stands in until it answers again.
 *
 * rate-limiter-flexible was considered: its limiters check and charge one key at a time, and
 * its in-memory store holds a timer per key with no bound on the number of keys.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.ts';

export interface ThrottleSettings {
  /** Failed sign-ins per e-mail in a window before refusing (0: no limit). */
  perAccount: number;
  /** Failed sign-ins per client address in a window before refusing (0: no limit). */
  perAddress: number;
  windowMs: number;
  /** Shared counters in Redis when set. */
  redisUrl: string | undefined;
  redisPrefix: string;
  /** Counters kept at most by the in-process store. */
  maxKeys?: number;
}

/** Allowed (`retryAfterMs` 0), or refused until `retryAfterMs` from now. */
export interface Verdict {
  retryAfterMs: number;
}

interface Counter {
  key: string;
  limit: number;
}

interface CounterStore {
  /** Charges every counter, or none when one is at its limit (then the longest wait, ms). */
  attempt(counters: Counter[], windowMs: number): Promise<number>;
  /** Deletes `clear` and takes one back from `refund`. */
  succeeded(clear: string | null, refund: string | null): Promise<void>;
  close(): Promise<void>;
}

export class LoginThrottle {
  readonly #memory: MemoryCounters;
  readonly #redis: RedisCounters | null;
  #warnedAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly settings: ThrottleSettings,
    readonly logger: Logger,
  ) {
    this.#memory = new MemoryCounters(settings.maxKeys ?? 100_000);
    this.#redis = settings.redisUrl
      ? new RedisCounters(settings.redisUrl, settings.redisPrefix)
      : null;
  }

  get store(): 'redis' | 'memory' {
    return this.#redis ? 'redis' : 'memory';
  }

  /** Counts an attempt for `email` from `addressKey` (null: unknown, not limited by address). */
  async attempt(email: string, addressKey: string | null): Promise<Verdict> {
    const counters: Counter[] = [];
    const { perAccount, perAddress, windowMs } = this.settings;
    if (perAccount > 0) counters.push({ key: accountKey(email), limit: perAccount });
    if (perAddress > 0 && addressKey) counters.push({ key: `ip:${addressKey}`, limit: perAddress });
    if (counters.length === 0) return { retryAfterMs: 0 };
    const retryAfterMs = await this.#use((s) => s.attempt(counters, windowMs));
    return { retryAfterMs };
  }

  /** After a successful sign-in: clears the account's failures, takes the attempt back. */
  async succeeded(email: string, addressKey: string | null): Promise<void> {
    const { perAccount, perAddress } = this.settings;
    await this.#use((s) =>
      s.succeeded(
        perAccount > 0 ? accountKey(email) : null,
        perAddress > 0 && addressKey ? `ip:${addressKey}` : null,
      ),
    );
  }

  async #use<T>(fn: (store: CounterStore) => Promise<T>): Promise<T> {
    if (!this.#redis) return fn(this.#memory);
    try {
      return await fn(this.#redis);
    } catch (err) {
      if (performance.now() - this.#warnedAt > 60_000) {
        this.#warnedAt = performance.now();
        this.logger.warn({ err }, 'login throttle: Redis failed; counting in this process');
      }
      return fn(this.#memory);
    }
  }

  async close(): Promise<void> {
    await this.#redis?.close();
  }
}

/** The e-mail's digest: bounded key length, and no addresses in plain text in Redis. */
function accountKey(email: string): string {
  return `a:${createHash('sha256').update(email).digest('base64url').slice(0, 32)}`;
}

/**
 * Fixed windows in a Map. Entries are inserted when their window starts and never moved, and
 * every window has the same length, so the Map's order is expiry order: expired entries are
 * swept from the front, and when full the entry closest to expiry goes first.
 */
class MemoryCounters implements CounterStore {
  readonly #counts = new Map<string, { n: number; resetAt: number }>();
  constructor(readonly maxKeys: number) {}

  #live(key: string, now: number) {
    const entry = this.#counts.get(key);
    if (entry && entry.resetAt <= now) {
      this.#counts.delete(key);
      return undefined;
    }
    return entry;
  }

  async attempt(counters: Counter[], windowMs: number): Promise<number> {
    const now = Date.now();
    let wait = 0;
    for (const { key, limit } of counters) {
      const entry = this.#live(key, now);
      if (entry && entry.n >= limit) wait = Math.max(wait, entry.resetAt - now);
    }
    if (wait > 0) return wait;
    for (const { key } of counters) {
      const entry = this.#live(key, now);
      if (entry) entry.n += 1;
      else this.#insert(key, { n: 1, resetAt: now + windowMs }, now);
    }
    return 0;
  }

  #insert(key: string, entry: { n: number; resetAt: number }, now: number) {
    for (const [k, e] of this.#counts) {
      if (e.resetAt > now && this.#counts.size < this.maxKeys) break;
      this.#counts.delete(k);
    }
    this.#counts.set(key, entry);
  }

  async succeeded(clear: string | null, refund: string | null): Promise<void> {
    if (clear) this.#counts.delete(clear);
    const entry = refund ? this.#live(refund, Date.now()) : undefined;
    if (entry && entry.n > 0) entry.n -= 1;
  }

  async close(): Promise<void> {}
}

const ATTEMPT_SCRIPT = `
local window = tonumber(ARGV[1])
local wait = 0
for i = 1, #KEYS do
  local n = tonumber(redis.call('GET', KEYS[i]) or '0')
  if n >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl < 0 then
      redis.call('PEXPIRE', KEYS[i], window)
      ttl = window
    end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return wait end
for i = 1, #KEYS do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], window) end
end
return 0`;

const SUCCEEDED_SCRIPT = `
if ARGV[1] == '1' then redis.call('DEL', KEYS[1]) end
if ARGV[2] == '1' then
  local n = tonumber(redis.call('GET', KEYS[2]) or '0')
  if n > 0 then redis.call('DECR', KEYS[2]) end
end
return 1`;

type ScriptedRedis = Redis & {
  plLoginAttempt(...args: (string | number)[]): Promise<number>;
  plLoginSucceeded(...args: (string | number)[]): Promise<number>;
};

class RedisCounters implements CounterStore {
  readonly #redis: ScriptedRedis;
  constructor(
    url: string,
    readonly prefix: string,
  ) {
    this.#redis = new Redis(url, {
      maxRetriesPerRequest: 1,
      commandTimeout: 1000,
      enableOfflineQueue: true,
    }) as ScriptedRedis;
    // Failures surface on the command (then the in-process store stands in); not as events.
    this.#redis.on('error', () => {});
    this.#redis.defineCommand('plLoginAttempt', { lua: ATTEMPT_SCRIPT });
    this.#redis.defineCommand('plLoginSucceeded', { numberOfKeys: 2, lua: SUCCEEDED_SCRIPT });
  }

  async attempt(counters: Counter[], windowMs: number): Promise<number> {
    return Number(
      await this.#redis.plLoginAttempt(
        counters.length,
        ...counters.map((c) => this.prefix + c.key),
        windowMs,
        ...counters.map((c) => c.limit),
      ),
    );
  }

  async succeeded(clear: string | null, refund: string | null): Promise<void> {
    await this.#redis.plLoginSucceeded(
      this.prefix + (clear ?? '-'),
      this.prefix + (refund ?? '-'),
      clear ? '1' : '0',
      refund ? '1' : '0',
    );
  }

  async close(): Promise<void> {
    if (this.#redis.status === 'ready') await this.#redis.quit().catch(() => {});
    this.#redis.disconnect();
  }
}
