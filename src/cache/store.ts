/**
 * The response cache's storage: a tag-indexed store behind `@envelop/response-cache`'s small
 * `Cache` interface (get / set / invalidate). Entries carry the entity tags the plugin
 * collected plus the list tags recorded while the response was computed (see tags.ts).
 */
import type { ExecutionResult } from 'graphql';

export interface StoreStats {
  entries: number;
  bytes: number;
  evictions: number;
}

export interface TaggedStore {
  readonly kind: 'memory' | 'redis';
  get(key: string): Promise<ExecutionResult | undefined>;
  set(key: string, value: ExecutionResult, tags: Iterable<string>, ttlMs: number): Promise<void>;
  /** Removes every entry carrying any of the tags. Returns how many entries went. */
  invalidate(tags: Iterable<string>): Promise<number>;
  stats(): Promise<StoreStats>;
  clear(): Promise<void>;
  close(): Promise<void>;
}
