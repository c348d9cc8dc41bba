/** In-process LRU, bounded by entries and by bytes, with a tag index for invalidation. */
import type { ExecutionResult } from 'graphql';
import type { StoreStats, TaggedStore } from './store.ts';

interface Entry {
  /** The result, deep-frozen: every hit shares it, and nothing may change it. */
  value: ExecutionResult;
  /** Its size as JSON (UTF-16 code units x 2), for the byte bound. */
  bytes: number;
  tags: string[];
  expiresAt: number;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export class MemoryStore implements TaggedStore {
  readonly kind = 'memory' as const;
  /** Map iteration order is insertion order: re-inserting on read makes it an LRU. */
  readonly #entries = new Map<string, Entry>();
  readonly #byTag = new Map<string, Set<string>>();
  #bytes = 0;
  #evictions = 0;

  constructor(
    readonly maxEntries: number,
    readonly maxBytes: number,
  ) {}

  async get(key: string): Promise<ExecutionResult | undefined> {
    return this.getNow(key);
  }

  /** `get` without the promise: the response cache's lookup on every request uses this. */
  getNow(key: string): ExecutionResult | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.#delete(key);
      return undefined;
    }
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.value;
  }

  async set(key: string, value: ExecutionResult, tags: Iterable<string>, ttlMs: number) {
    // A copy through JSON: what is kept is exactly what a client received (no functions,
    // symbols or shared objects), and its length is the entry's size.
    const json = JSON.stringify(value);
    const size = json.length * 2 + key.length * 2;
    if (size > this.maxBytes) return;
    this.#delete(key);
    const entry: Entry = {
      value: deepFreeze(JSON.parse(json) as ExecutionResult),
      bytes: size,
      tags: [...new Set(tags)],
      expiresAt: Date.now() + ttlMs,
    };
    this.#entries.set(key, entry);
    this.#bytes += size;
    for (const tag of entry.tags) {
      let keys = this.#byTag.get(tag);
      if (!keys) {
        keys = new Set();
        this.#byTag.set(tag, keys);
      }
      keys.add(key);
    }
    while (this.#entries.size > this.maxEntries || this.#bytes > this.maxBytes) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#delete(oldest);
      this.#evictions += 1;
    }
  }

  async invalidate(tags: Iterable<string>): Promise<number> {
    let removed = 0;
    for (const tag of tags) {
      const keys = this.#byTag.get(tag);
      if (!keys) continue;
      for (const key of [...keys]) if (this.#delete(key)) removed += 1;
      this.#byTag.delete(tag);
    }
    return removed;
  }

  async stats(): Promise<StoreStats> {
    return { entries: this.#entries.size, bytes: this.#bytes, evictions: this.#evictions };
  }

  async clear() {
    this.#entries.clear();
    this.#byTag.clear();
    this.#bytes = 0;
  }

  async close() {}

  #delete(key: string): boolean {
    const entry = this.#entries.get(key);
    if (!entry) return false;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
    for (const tag of entry.tags) {
      const keys = this.#byTag.get(tag);
      keys?.delete(key);
      if (keys?.size === 0) this.#byTag.delete(tag);
    }
    return true;
  }
}
