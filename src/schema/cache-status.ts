/** `systemStatus { cache { ... } }`: response cache statistics of this process (ADMIN only). */
import { builder } from '../builder.ts';
import type { CacheStats } from '../cache/response-cache.ts';
import { SystemStatus } from './system.ts';

const OperationCacheStats =
  builder.objectRef<CacheStats['byOperation'][number]>('OperationCacheStats');
OperationCacheStats.implement({
  description: 'Cache hits and misses of one operation name.',
  fields: (t) => ({
    operation: t.exposeString('operation', {
      description:
        'The operation name; `anonymous` for unnamed ones, `other` past the first 50 names.',
    }),
    hits: t.exposeInt('hits', { description: 'Responses served from the cache.' }),
    misses: t.exposeInt('misses', { description: 'Responses computed.' }),
  }),
});

const TypeInvalidations =
  builder.objectRef<CacheStats['invalidationsByType'][number]>('TypeInvalidations');
TypeInvalidations.implement({
  description: 'Cache invalidations caused by writes to one type.',
  fields: (t) => ({
    type: t.exposeString('type', { description: 'The type written (`Post`, `Project`, ...).' }),
    count: t.exposeInt('count', { description: 'Tags invalidated for it.' }),
  }),
});

const CacheStatus = builder.objectRef<CacheStats>('CacheStatus');
CacheStatus.implement({
  description: 'Response cache statistics since this process started.',
  fields: (t) => ({
    mode: t.exposeString('mode', { description: 'Where entries live: `memory` or `redis`.' }),
    hits: t.exposeInt('hits', { description: 'Responses served from the cache.' }),
    misses: t.exposeInt('misses', { description: 'Cacheable responses that were computed.' }),
    hitRate: t.exposeFloat('hitRate', {
      nullable: true,
      description: 'hits / (hits + misses), 0 to 1; null before the first.',
    }),
    entries: t.exposeInt('entries', { description: 'Responses stored now.' }),
    bytes: t.exposeFloat('bytes', {
      description: "Bytes stored (memory), or the Redis server's used memory (redis).",
    }),
    evictions: t.exposeInt('evictions', {
      description:
        'Entries dropped to stay within the size limits (redis: server-wide evicted keys).',
    }),
    invalidations: t.exposeInt('invalidations', { description: 'Tags invalidated.' }),
    skippedStale: t.exposeInt('skippedStale', {
      description: 'Responses not stored because a write overlapped their computation.',
    }),
    byOperation: t.field({
      type: [OperationCacheStats],
      description: 'Hits and misses per operation name.',
      resolve: (s) => s.byOperation,
    }),
    invalidationsByType: t.field({
      type: [TypeInvalidations],
      description: 'Invalidated tags per type.',
      resolve: (s) => s.invalidationsByType,
    }),
  }),
});

builder.objectField(SystemStatus, 'cache', (t) =>
  t.field({
    type: CacheStatus,
    nullable: true,
    description: 'Null when the response cache is off.',
    resolve: (_status, _args, ctx) => {
      const cache = ctx.cache as { stats?: () => Promise<CacheStats> } | null | undefined;
      return cache?.stats ? cache.stats() : null;
    },
  }),
);
