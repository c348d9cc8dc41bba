/**
 * Redis store shared by every Postline instance. Replaces the upstream Redis store, which
 * invalidates a type with `KEYS Type:*` (blocking Redis) and keeps index sets that never
 * expire: here each tag is a set of entry keys whose TTL is raised to the longest TTL of
 * its members, and invalidation reads exactly the sets it names (a Lua script, atomic).
 */
import type { ExecutionResult } from 'graphql';
import { Redis } from 'ioredis';
import type { StoreStats, TaggedStore } from './store.ts';

// ARGV: value, ttl ms, start epoch ('' = unknown), prefix, tags... An entry is not stored when
// one of its tags was invalidated after the computation began (its epoch is newer): the
// response may predate that write, and another instance's invalidation has already run.
const SET_SCRIPT = `
local entry = KEYS[1]
local ttl = tonumber(ARGV[2])
local since = tonumber(ARGV[3])
local prefix = ARGV[4]
if since then
  for i = 5, #ARGV do
    local inv = tonumber(redis.call('GET', prefix .. 'i:' .. ARGV[i]))
    if inv and inv > since then return 0 end
  end
end
redis.call('SET', entry, ARGV[1], 'PX', ttl)
for i = 5, #ARGV do
  local tagKey = prefix .. 't:' .. ARGV[i]
  redis.call('SADD', tagKey, entry)
  local current = redis.call('PTTL', tagKey)
  if current < ttl then redis.call('PEXPIRE', tagKey, ttl) end
end
return 1`;

// ARGV: prefix, marker ttl ms, tags... Bumps the shared epoch and marks each tag with it.
const INVALIDATE_SCRIPT = `
local prefix = ARGV[1]
local epoch = redis.call('INCR', prefix .. 'epoch')
local removed = 0
for i = 3, #ARGV do
  local tagKey = prefix .. 't:' .. ARGV[i]
  local members = redis.call('SMEMBERS', tagKey)
  for _, entry in ipairs(members) do
    removed = removed + redis.call('DEL', entry)
  end
  redis.call('DEL', tagKey)
  redis.call('SET', prefix .. 'i:' .. ARGV[i], epoch, 'PX', tonumber(ARGV[2]))
end
return removed`;

/** How long an invalidation is remembered: longer than any computation runs. */
const MARKER_TTL_MS = 10 * 60_000;
const MAX_PENDING = 50_000;

export class RedisStore implements TaggedStore {
  readonly kind = 'redis' as const;
  readonly #redis: Redis;
  #evictions = 0;
  /** Misses being computed: the shared epoch when the earliest began, and how many run. */
  readonly #pending = new Map<string, { since: string; inflight: number }>();

  constructor(
    url: string,
    readonly prefix = 'postline:rc:',
  ) {
    this.#redis = new Redis(url, {
      lazyConnect: false,
      maxRetriesPerRequest: 2,
      enableOfflineQueue: true,
    });
    this.#redis.on('error', () => {});
    this.#redis.defineCommand('plSet', { numberOfKeys: 1, lua: SET_SCRIPT });
    this.#redis.defineCommand('plInvalidate', { numberOfKeys: 0, lua: INVALIDATE_SCRIPT });
  }

  #entryKey = (key: string) => `${this.prefix}e:${key}`;

  /**
   * The entry, read together with the shared invalidation epoch: on a miss the response is
   * computed next, and `set` stores it only if none of its tags was invalidated since (by
   * any instance). The in-process guard of response-cache.ts sees this process's writes only.
   */
  async get(key: string): Promise<ExecutionResult | undefined> {
    const replies = await this.#redis
      .pipeline()
      .get(`${this.prefix}epoch`)
      .get(this.#entryKey(key))
      .exec();
    const [epochReply, entryReply] = replies ?? [];
    if (entryReply?.[0]) throw entryReply[0];
    const json = entryReply?.[1] as string | null | undefined;
    if (json) return JSON.parse(json) as ExecutionResult;
    const since = epochReply?.[0] ? '' : String((epochReply?.[1] as string | null) ?? '0');
    const pending = this.#pending.get(key);
    if (pending) pending.inflight += 1;
    else {
      this.#pending.set(key, { since, inflight: 1 });
      if (this.#pending.size > MAX_PENDING) {
        const oldest = this.#pending.keys().next().value;
        if (oldest !== undefined) this.#pending.delete(oldest);
      }
    }
    return undefined;
  }

  async set(key: string, value: ExecutionResult, tags: Iterable<string>, ttlMs: number) {
    const pending = this.#pending.get(key);
    if (pending && --pending.inflight <= 0) this.#pending.delete(key);
    // biome-ignore lint/suspicious/noExplicitAny: custom command defined above
    await (this.#redis as any).plSet(
      this.#entryKey(key),
      JSON.stringify(value),
      Math.max(1, Math.round(ttlMs)),
      pending?.since ?? '',
      this.prefix,
      ...new Set(tags),
    );
  }

  async invalidate(tags: Iterable<string>): Promise<number> {
    const list = [...new Set(tags)];
    if (list.length === 0) return 0;
    // biome-ignore lint/suspicious/noExplicitAny: custom command defined above
    return Number(await (this.#redis as any).plInvalidate(this.prefix, MARKER_TTL_MS, ...list));
  }

  async stats(): Promise<StoreStats> {
    // Counting entries needs a scan; it runs only for /metrics and systemStatus, in pages.
    let cursor = '0';
    let entries = 0;
    do {
      const [next, keys] = await this.#redis.scan(
        cursor,
        'MATCH',
        `${this.prefix}e:*`,
        'COUNT',
        1000,
      );
      cursor = next;
      entries += keys.length;
    } while (cursor !== '0');
    const info = await this.#redis.info('memory');
    const bytes = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
    const stats = await this.#redis.info('stats');
    this.#evictions = Number(/evicted_keys:(\d+)/.exec(stats)?.[1] ?? 0);
    return { entries, bytes, evictions: this.#evictions };
  }

  async clear() {
    let cursor = '0';
    do {
      const [next, keys] = await this.#redis.scan(
        cursor,
        'MATCH',
        `${this.prefix}*`,
        'COUNT',
        1000,
      );
      cursor = next;
      if (keys.length) await this.#redis.del(...keys);
    } while (cursor !== '0');
  }

  async ping(): Promise<boolean> {
    return (await this.#redis.ping()) === 'PONG';
  }

  async close() {
    this.#redis.disconnect();
  }
}
