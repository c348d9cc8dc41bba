/**
 * Where automatic persisted queries (APQ) live: SHA-256 hash → query text. Bounded by entry
 * count and total bytes, entries expire when unused for `ttlMs`. With Redis every instance
 * shares one store (a client registers on one instance and hits on another); without it each
 * process keeps its own LRU.
 */
import { Redis } from 'ioredis';

export interface DocumentStore {
  readonly kind: 'memory' | 'redis';
  get(hash: string): Promise<string | undefined>;
  set(hash: string, document: string): Promise<void>;
  close(): Promise<void>;
}

export interface DocumentStoreBounds {
  maxEntries: number;
  maxBytes: number;
  /** An entry unused this long is dropped (each hit restarts the clock). */
  ttlMs: number;
}

/** In-process LRU: a Map re-inserted on every hit, evicted oldest first. */
export class MemoryDocumentStore implements DocumentStore {
  readonly kind = 'memory' as const;
  readonly #entries = new Map<string, { document: string; bytes: number; usedAt: number }>();
  #bytes = 0;

  constructor(readonly bounds: DocumentStoreBounds) {}

  async get(hash: string): Promise<string | undefined> {
    const entry = this.#entries.get(hash);
    if (!entry) return undefined;
    this.#entries.delete(hash);
    if (Date.now() - entry.usedAt > this.bounds.ttlMs) {
      this.#bytes -= entry.bytes;
      return undefined;
    }
    entry.usedAt = Date.now();
    this.#entries.set(hash, entry);
    return entry.document;
  }

  async set(hash: string, document: string): Promise<void> {
    const bytes = Buffer.byteLength(document) + hash.length;
    if (bytes > this.bounds.maxBytes) return;
    const previous = this.#entries.get(hash);
    if (previous) {
      this.#entries.delete(hash);
      this.#bytes -= previous.bytes;
    }
    this.#entries.set(hash, { document, bytes, usedAt: Date.now() });
    this.#bytes += bytes;
    while (this.#entries.size > this.bounds.maxEntries || this.#bytes > this.bounds.maxBytes) {
      const [oldest, entry] = this.#entries.entries().next().value ?? [];
      if (oldest === undefined || !entry) break;
      this.#entries.delete(oldest);
      this.#bytes -= entry.bytes;
    }
  }

  get size(): number {
    return this.#entries.size;
  }

  async close(): Promise<void> {
    this.#entries.clear();
    this.#bytes = 0;
  }
}

/*
 * Redis layout under the prefix: `d:<hash>` the document (expires after the TTL), `i` a sorted
 * set of hashes scored by last use (milliseconds x 1000 plus a counter `q`, so uses within one
 * millisecond keep their order), `s` a hash of entry sizes, `b` the total size. Both scripts
 * are atomic, so concurrent instances cannot push the store past its bounds.
 */
const GET_SCRIPT = `
local prefix, hash, ttl, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local doc = redis.call('GET', prefix .. 'd:' .. hash)
if doc then
  redis.call('PEXPIRE', prefix .. 'd:' .. hash, ttl)
  -- microsecond-like scores from a counter: uses within one millisecond keep their order
  local score = now * 1000 + redis.call('INCR', prefix .. 'q') % 1000
  redis.call('ZADD', prefix .. 'i', 'XX', score, hash)
end
return doc`;

const SET_SCRIPT = `
local prefix, hash, doc = ARGV[1], ARGV[2], ARGV[3]
local ttl, now, maxEntries, maxBytes = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local index, sizes, total = prefix .. 'i', prefix .. 's', prefix .. 'b'
local function drop(h)
  local size = tonumber(redis.call('HGET', sizes, h) or '0')
  redis.call('HDEL', sizes, h)
  redis.call('ZREM', index, h)
  redis.call('DEL', prefix .. 'd:' .. h)
  redis.call('DECRBY', total, size)
end
-- entries unused for longer than the TTL have expired: forget their sizes (a bounded batch)
for _, h in ipairs(redis.call('ZRANGEBYSCORE', index, '-inf', (now - ttl) * 1000, 'LIMIT', 0, 100)) do drop(h) end
if redis.call('HEXISTS', sizes, hash) == 1 then drop(hash) end
local size = string.len(doc) + string.len(hash)
redis.call('SET', prefix .. 'd:' .. hash, doc, 'PX', ttl)
redis.call('ZADD', index, now * 1000 + redis.call('INCR', prefix .. 'q') % 1000, hash)
redis.call('HSET', sizes, hash, size)
redis.call('INCRBY', total, size)
while redis.call('ZCARD', index) > maxEntries or tonumber(redis.call('GET', total) or '0') > maxBytes do
  local oldest = redis.call('ZRANGE', index, 0, 0)[1]
  if not oldest then break end
  drop(oldest)
end
return 1`;

export class RedisDocumentStore implements DocumentStore {
  readonly kind = 'redis' as const;
  readonly #redis: Redis;

  constructor(
    url: string,
    readonly prefix: string,
    readonly bounds: DocumentStoreBounds,
  ) {
    this.#redis = new Redis(url, { maxRetriesPerRequest: 2, enableOfflineQueue: true });
    this.#redis.on('error', () => {});
    this.#redis.defineCommand('apqGet', { numberOfKeys: 0, lua: GET_SCRIPT });
    this.#redis.defineCommand('apqSet', { numberOfKeys: 0, lua: SET_SCRIPT });
  }

  async get(hash: string): Promise<string | undefined> {
    // biome-ignore lint/suspicious/noExplicitAny: custom command defined above
    const doc = await (this.#redis as any).apqGet(this.prefix, hash, this.bounds.ttlMs, Date.now());
    return typeof doc === 'string' ? doc : undefined;
  }

  async set(hash: string, document: string): Promise<void> {
    if (Buffer.byteLength(document) + hash.length > this.bounds.maxBytes) return;
    // biome-ignore lint/suspicious/noExplicitAny: custom command defined above
    await (this.#redis as any).apqSet(
      this.prefix,
      hash,
      document,
      this.bounds.ttlMs,
      Date.now(),
      this.bounds.maxEntries,
      this.bounds.maxBytes,
    );
  }

  async close(): Promise<void> {
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }
}
