/** `systemStatus { cache { ... } }`: response cache statistics of this process (ADMIN only). */
import { builder } from '../builder.ts';
import type { CacheStats } from '../cache/response-cache.ts';
import { SystemStatus } from './system.ts';

const OperationCacheStats =
  builder.objectRef<CacheStats['byOperation'][number]>('OperationCacheStats');
OperationCacheStats.implement({
  fields: (t) => ({
    operation: t.exposeString('operation'),
    hits: t.exposeInt('hits'),
    misses: t.exposeInt('misses'),
  }),
});

const TypeInvalidations =
  builder.objectRef<CacheStats['invalidationsByType'][number]>('TypeInvalidations');
TypeInvalidations.implement({
  fields: (t) => ({ type: t.exposeString('type'), count: t.exposeInt('count') }),
});

const CacheStatus = builder.objectRef<CacheStats>('CacheStatus');
CacheStatus.implement({
  description: 'Response cache statistics since this process started.',
  fields: (t) => ({
    mode: t.exposeString('mode', { description: 'memory or redis' }),
    hits: t.exposeInt('hits'),
    misses: t.exposeInt('misses'),
    hitRate: t.exposeFloat('hitRate', { nullable: true }),
    entries: t.exposeInt('entries'),
    bytes: t.exposeFloat('bytes'),
    evictions: t.exposeInt('evictions'),
    invalidations: t.exposeInt('invalidations', { description: 'Tags invalidated.' }),
    skippedStale: t.exposeInt('skippedStale', {
      description: 'Responses not stored because a write overlapped their computation.',
    }),
    byOperation: t.field({ type: [OperationCacheStats], resolve: (s) => s.byOperation }),
    invalidationsByType: t.field({
      type: [TypeInvalidations],
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
