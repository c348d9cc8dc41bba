/**
 * Redis store shared by every Postline instance. Replaces the upstream Redis store, which
 * invalidates a type with `KEYS Type:*` (blocking Redis) and keeps index sets that never
 * expire: here each tag is a set of entry keys whose TTL is raised to the longest TTL of
 * its members, and invalidation reads exactly the sets it names (a Lua script, atomic).
 */
import type { ExecutionResult } from 'graphql';
import { Redis } from 'ioredis';
import type { StoreStats, TaggedStore } from './store.ts';

const SET_SCRIPT = `
local entry = KEYS[1]
local ttl = tonumber(ARGV[2])
redis.call('SET', entry, ARGV[1], 'PX', ttl)
for i = 3, #ARGV do
  local tagKey = ARGV[i]
  redis.call('SADD', tagKey, entry)
  local current = redis.call('PTTL', tagKey)
  if current < ttl then redis.call('PEXPIRE', tagKey, ttl) end
end
return 1`;

const INVALIDATE_SCRIPT = `
local removed = 0
for i = 1, #KEYS do
  local members = redis.call('SMEMBERS', KEYS[i])
  for _, entry in ipairs(members) do
    removed = removed + redis.call('DEL', entry)
  end
  redis.call('DEL', KEYS[i])
end
return removed`;

export class RedisStore implements TaggedStore {
  readonly kind = 'redis' as const;
  readonly #redis: Redis;
  #evictions = 0;

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
    this.#redis.defineCommand('plInvalidate', { lua: INVALIDATE_SCRIPT });
  }

  #entryKey = (key: string) => `${this.prefix}e:${key}`;
  #tagKey = (tag: string) => `${this.prefix}t:${tag}`;

  async get(key: string): Promise<ExecutionResult | undefined> {
    const json = await this.#redis.get(this.#entryKey(key));
    return json ? (JSON.parse(json) as ExecutionResult) : undefined;
  }

  async set(key: string, value: ExecutionResult, tags: Iterable<string>, ttlMs: number) {
    const tagKeys = [...new Set(tags)].map(this.#tagKey);
    // biome-ignore lint/suspicious/noExplicitAny: custom command defined above
    await (this.#redis as any).plSet(
      this.#entryKey(key),
      JSON.stringify(value),
      Math.max(1, Math.round(ttlMs)),
      ...tagKeys,
    );
  }

  async invalidate(tags: Iterable<string>): Promise<number> {
    const tagKeys = [...new Set(tags)].map(this.#tagKey);
    if (tagKeys.length === 0) return 0;
    // biome-ignore lint/suspicious/noExplicitAny: custom command defined above
    return Number(await (this.#redis as any).plInvalidate(tagKeys.length, ...tagKeys));
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
