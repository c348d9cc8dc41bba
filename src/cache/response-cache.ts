/**
 * Postline's response cache: `@graphql-yoga/plugin-response-cache` (which wraps
 * `@envelop/response-cache`) over a tag-indexed store, with the gaps the upstream plugin
 * leaves closed here:
 *
 * - Lists: resolvers record the list partitions a response read (tags.ts); writes clear the
 *   partitions they touch, so a created post clears the lists it belongs in.
 * - Safety: the cache is keyed by visibility scope from a *verified* token (staff share one
 *   scope, each client's users another); requests without a valid token never touch it.
 * - Races: a response computed while an overlapping invalidation happened is not stored.
 * - Sharing: with Redis, every instance reads and invalidates one store; with the in-memory
 *   store, invalidations are broadcast to other processes through PostgreSQL NOTIFY.
 */
import { hash, randomUUID } from 'node:crypto';
import { useResponseCache } from '@graphql-yoga/plugin-response-cache';
import stableStringify from 'fast-json-stable-stringify';
import { type ExecutionResult, getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type pg from 'pg';
import client from 'prom-client';
import { viewerForRequest } from '../auth/request-auth.ts';
import { visibilityScope } from '../auth/rules.ts';
import type { Logger } from '../observability/logger.ts';
import { boundedOperation } from '../observability/metrics.ts';
import { PROFILE_HEADER } from '../observability/profile.ts';
import { Admission } from './admission.ts';
import { Broadcaster } from './broadcast.ts';
import { MemoryStore } from './memory-store.ts';
import { RedisStore } from './redis-store.ts';
import type { StoreStats, TaggedStore } from './store.ts';
import { entityTag } from './tags.ts';

export interface CacheSettings {
  mode: 'off' | 'memory' | 'redis';
  redisUrl: string | undefined;
  /** Key prefix in Redis, so deployments (or test runs) can share one server. */
  redisPrefix: string;
  ttlMs: { default: number; post: number; project: number; client: number; dashboard: number };
  maxEntries: number;
  maxBytes: number;
  /**
   * How many times a response's key must miss, within the last CACHE_MAX_ENTRIES or so distinct
   * missed keys, before its response is stored (1: every miss is stored).
   */
  admitAfterMisses: number;
  /** Send `extensions.responseCache` to every caller (development). */
  exposeMetadata: boolean;
}

export interface CacheStats {
  mode: string;
  hits: number;
  misses: number;
  hitRate: number | null;
  entries: number;
  bytes: number;
  evictions: number;
  invalidations: number;
  skippedStale: number;
  byOperation: { operation: string; hits: number; misses: number }[];
  invalidationsByType: { type: string; count: number }[];
}

/** A key being computed by one or more requests that may store their response. */
interface KeyState {
  /** List tags recorded by the resolvers. */
  tags: Set<string>;
  /** Invalidation epoch when the earliest of these computations started. */
  epoch: number;
  inflight: number;
}

/** Hits and misses of one operation. */
interface OperationCounts {
  hits: number;
  misses: number;
}

/** What the cache knows about one cacheable request. */
interface Lookup {
  key: string;
  /** For the operation's name when a hit is counted. */
  documentString: string;
  operationName: string | undefined;
  /** A miss not admitted: the upstream plugin stays out of its execution, nothing is stored. */
  notStored: boolean;
  /** While a response that may be stored computes. */
  computing: KeyState | null;
}

const RECENT_INVALIDATIONS = 4096;
const MAX_TRACKED_KEYS = 50_000;

export class ResponseCache {
  readonly store: TaggedStore;
  readonly instanceId = randomUUID();
  #epoch = 0;
  #recent: { epoch: number; tags: Set<string> }[] = [];
  readonly #keys = new Map<string, KeyState>();
  /** Each cacheable request's key and state (batching is off: one operation per request). */
  readonly #lookups = new WeakMap<Request, Lookup>();
  #broadcaster: Broadcaster | null = null;
  #hits = 0;
  #misses = 0;
  #invalidations = 0;
  #skippedStale = 0;
  readonly #admission: Admission;
  #notAdmitted = 0;
  readonly #byOperation = new Map<string, OperationCounts>();
  readonly #invalidationsByType = new Map<string, number>();
  readonly #metrics: {
    requests: client.Counter<'operation' | 'result'>;
    invalidations: client.Counter<'type'>;
  };

  constructor(
    readonly settings: CacheSettings,
    readonly logger: Logger,
    registry: client.Registry,
  ) {
    this.store =
      settings.mode === 'redis' && settings.redisUrl
        ? new RedisStore(settings.redisUrl, settings.redisPrefix)
        : new MemoryStore(settings.maxEntries, settings.maxBytes);
    this.#admission = new Admission(settings.admitAfterMisses, settings.maxEntries);
    const byOperation = this.#byOperation;
    this.#metrics = {
      // Counted in plain numbers per request and copied into the series when scraped: a
      // labelled `inc` hashes its labels on every call.
      requests: new client.Counter({
        name: 'postline_response_cache_requests_total',
        help: 'Cacheable query executions by operation and result (hit or miss)',
        labelNames: ['operation', 'result'] as const,
        registers: [registry],
        collect() {
          this.reset();
          for (const [operation, c] of byOperation) {
            this.inc({ operation, result: 'hit' }, c.hits);
            this.inc({ operation, result: 'miss' }, c.misses);
          }
        },
      }),
      invalidations: new client.Counter({
        name: 'postline_response_cache_invalidations_total',
        help: 'Cache tags invalidated, by type',
        labelNames: ['type'] as const,
        registers: [registry],
      }),
    };
    const self = this;
    // One store read per scrape serves all three gauges (on Redis it is a SCAN and two INFOs).
    let pending: Promise<StoreStats> | null = null;
    const storeStats = () => {
      pending ??= this.store
        .stats()
        .catch(() => ({ entries: 0, bytes: 0, evictions: 0 }))
        .finally(() => setTimeout(() => (pending = null), 0));
      return pending;
    };
    const gauge = (name: string, help: string, pick: (s: StoreStats) => number) =>
      new client.Gauge({
        name,
        help,
        registers: [registry],
        async collect() {
          this.set(pick(await storeStats()));
        },
      });
    gauge(
      'postline_response_cache_entries',
      'Entries in the response cache store',
      (s) => s.entries,
    );
    gauge(
      'postline_response_cache_bytes',
      'Bytes held by the response cache store (Redis: used_memory)',
      (s) => s.bytes,
    );
    gauge(
      'postline_response_cache_evictions',
      'Entries evicted to stay within bounds',
      (s) => s.evictions,
    );
    new client.Counter({
      name: 'postline_response_cache_skipped_stale_total',
      help: 'Responses not stored because an overlapping write happened while computing them',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(self.#skippedStale);
      },
    });
    new client.Counter({
      name: 'postline_response_cache_not_admitted_total',
      help: 'Responses not stored because their key had missed fewer than CACHE_ADMIT_AFTER_MISSES times',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(self.#notAdmitted);
      },
    });
  }

  /**
   * Called as a query that missed starts executing: whether its response will be stored
   * (CACHE_ADMIT_AFTER_MISSES, see admission.ts). A miss that will not be stored skips the
   * upstream plugin's work (the rewritten document with `__typename`/`id` on every selection,
   * the walk and copy of the result, the store write), so it costs about what it costs with
   * the cache off.
   */
  #admit(key: string): boolean {
    if (this.#admission.admit(key)) return true;
    this.#notAdmitted += 1;
    return false;
  }

  /** Listens for invalidations from other processes (in-memory store only). */
  async listen(connectionString: string, pool: pg.Pool): Promise<void> {
    this.#broadcaster = new Broadcaster(pool, this.instanceId, this.logger);
    if (this.store.kind === 'memory') {
      await this.#broadcaster.listen(connectionString, (tags) => this.#invalidateLocal(tags));
    }
  }

  /** Clears every entry carrying one of the tags, here and (memory store) in other processes. */
  async invalidate(tags: Iterable<string>): Promise<void> {
    const list = [...new Set(tags)];
    if (list.length === 0) return;
    await this.#invalidateLocal(list);
    if (this.store.kind === 'memory') await this.#broadcaster?.publish(list);
  }

  async #invalidateLocal(tags: string[]): Promise<void> {
    this.#epoch += 1;
    this.#recent.push({ epoch: this.#epoch, tags: new Set(tags) });
    if (this.#recent.length > RECENT_INVALIDATIONS) this.#recent.shift();
    this.#invalidations += tags.length;
    for (const tag of tags) {
      const type = tagType(tag);
      this.#metrics.invalidations.inc({ type });
      this.#invalidationsByType.set(type, (this.#invalidationsByType.get(type) ?? 0) + 1);
    }
    try {
      await this.store.invalidate(tags);
    } catch (err) {
      this.logger.error({ err, tags }, 'response cache invalidation failed');
    }
  }

  /** Called by list resolvers: the response being computed for `request` depends on `tags`. */
  recordTags(request: Request, tags: readonly string[]): void {
    const state = this.#lookups.get(request)?.computing;
    if (state) for (const t of tags) state.tags.add(t);
  }

  /** A response that may be stored starts computing: note the epoch, collect its list tags. */
  #startKey(lookup: Lookup): void {
    let state = this.#keys.get(lookup.key);
    if (!state) {
      state = { tags: new Set(), epoch: this.#epoch, inflight: 0 };
      this.#keys.set(lookup.key, state);
      // Entries leave when their last computation ends; this only bounds a leak.
      while (this.#keys.size > MAX_TRACKED_KEYS) {
        const oldest = this.#keys.keys().next().value;
        if (oldest === undefined) break;
        this.#keys.delete(oldest);
      }
    }
    state.inflight += 1;
    lookup.computing = state;
  }

  #endKey(lookup: Lookup): void {
    const state = lookup.computing;
    if (!state) return;
    lookup.computing = null;
    state.inflight -= 1;
    if (state.inflight <= 0 && this.#keys.get(lookup.key) === state) this.#keys.delete(lookup.key);
  }

  /** True when an invalidation since `epoch` touched any of `tags`. */
  #overlapsRecent(epoch: number, tags: Set<string>): boolean {
    for (let i = this.#recent.length - 1; i >= 0; i--) {
      const inv = this.#recent[i];
      if (!inv || inv.epoch <= epoch) break;
      for (const t of inv.tags) if (tags.has(t)) return true;
    }
    // Older than the ring remembers: be safe.
    const oldest = this.#recent[0];
    return (
      oldest !== undefined &&
      oldest.epoch > epoch + 1 &&
      this.#recent.length >= RECENT_INVALIDATIONS
    );
  }

  /** The `Cache` the envelop plugin talks to. */
  #envelopCache() {
    return {
      // In memory the answer is returned as it is, not in a promise: the plugin then goes on
      // without waiting for a microtask.
      get: (key: string) => {
        if (this.store instanceof MemoryStore) return this.store.getNow(key) ?? null;
        return this.store.get(key).then(
          (found) => found ?? null,
          (err: unknown) => {
            this.logger.warn({ err }, 'response cache read failed; executing instead');
            return null;
          },
        );
      },
      set: async (
        key: string,
        result: ExecutionResult,
        entities: Iterable<{ typename: string; id?: string | number }>,
        ttl: number,
      ) => {
        const state = this.#keys.get(key);
        const tags = new Set<string>(state?.tags ?? []);
        for (const e of entities) {
          tags.add(entityTag(e.typename, e.id));
          tags.add(entityTag(e.typename));
        }
        if (!state || this.#overlapsRecent(state.epoch, tags)) {
          this.#skippedStale += 1;
          return;
        }
        try {
          await this.store.set(key, result, tags, ttl);
        } catch (err) {
          this.logger.warn({ err }, 'response cache write failed');
        }
      },
      invalidate: (entities: Iterable<{ typename: string; id?: string | number }>) =>
        this.invalidate([...entities].map((e) => entityTag(e.typename, e.id))),
    };
  }

  /** Plugins in order: the Yoga response cache, then hit/miss accounting and metadata policy. */
  plugins(): Plugin[] {
    const s = this.settings;
    const cacheable = (request: Request) => {
      const viewer = viewerForRequest(request);
      // An ADMIN's profiling request always executes so its profile is real; the header means
      // nothing from anyone else (it must not let them bypass the cache).
      return !!viewer && !(viewer.role === 'ADMIN' && request.headers.get(PROFILE_HEADER));
    };
    // The upstream plugin answers `If-None-Match: <key>` with 304 whenever *any* scope has that
    // key cached, before it knows who is asking: an oracle for what other clients queried
    // (keys are hashes of predictable inputs). That hook is dropped; `accounting` below
    // answers 304 only when the tag equals the key of this caller's own request.
    const { onRequest: _crossScopeEtag, ...responseCache } = useResponseCache({
      cache: this.#envelopCache() as never,
      ttl: s.ttlMs.default,
      session: (request: Request) => visibilityScope(viewerForRequest(request) ?? null),
      // Asked before the lookup, and again as a query that missed starts executing: then `admit`
      // below has decided whether this response will be stored.
      enabled: (request: Request) => {
        const lookup = this.#lookups.get(request);
        return lookup !== undefined && !lookup.notStored;
      },
      // The upstream plugin builds a key for every request before asking `enabled`; a request
      // that cannot be cached gets none (no hashing), and the key is hashed synchronously
      // (the upstream default goes through WebCrypto's async digest, a thread-pool job per
      // request). Same inputs as the default: document, operation, variables, scope.
      buildResponseCacheKey: (params) => {
        const request = (params as { request?: Request }).request;
        if (!request || !cacheable(request)) return '';
        const key = hash(
          'sha256',
          `${params.documentString}|${params.operationName ?? ''}|${stableStringify(params.variableValues ?? {})}|${params.sessionId ?? ''}`,
          'hex',
        );
        this.#lookups.set(request, {
          key,
          documentString: params.documentString,
          operationName: params.operationName ?? undefined,
          notStored: false,
          computing: null,
        });
        return key;
      },
      ttlPerSchemaCoordinate: {
        'Query.viewer': 0,
        'Query.systemStatus': 0,
        'Query.backgroundJobs': 0,
        BackgroundJob: 0,
        Post: s.ttlMs.post,
        Project: s.ttlMs.project,
        Client: s.ttlMs.client,
        Deliverable: s.ttlMs.project,
        DashboardStats: s.ttlMs.dashboard,
        'Query.dashboardStats': s.ttlMs.dashboard,
      },
      includeExtensionMetadata: true,
    });

    // Before the response cache's own `onExecute`: a query reaching execution missed (a hit is
    // answered before parsing). It is counted here, and admission decides whether the upstream
    // plugin computes it for storing or stays out.
    const admit: Plugin = {
      onExecute: ({ args }) => {
        const request = (args.contextValue as { request?: Request }).request;
        const lookup = request && this.#lookups.get(request);
        if (!lookup) return;
        const operation = getOperationAST(args.document, args.operationName);
        if (operation?.operation !== 'query') return;
        this.#misses += 1;
        this.#countOperation(boundedOperation(operation.name?.value), 'miss');
        if (this.#admit(lookup.key)) this.#startKey(lookup);
        else lookup.notStored = true;
      },
    };
    const accounting: Plugin = {
      onResultProcess: ({ request, result, setResult }) => {
        const lookup = this.#lookups.get(request);
        if (
          !lookup ||
          Array.isArray(result) ||
          !result ||
          typeof result !== 'object' ||
          !('data' in result || 'errors' in result)
        ) {
          return;
        }
        const r = result as ExecutionResult & Record<symbol, unknown>;
        const meta = r.extensions?.responseCache as { hit?: boolean } | undefined;
        if (meta?.hit) {
          this.#hits += 1;
          const name =
            lookup.operationName ?? /(?:query|mutation)\s+(\w+)/.exec(lookup.documentString)?.[1];
          this.#countOperation(boundedOperation(name), 'hit');
        }
        const exposed = s.exposeMetadata || viewerForRequest(request)?.role === 'ADMIN';
        if (exposed && lookup.notStored) {
          // The upstream plugin stayed out; say what it would have said.
          setResult({
            ...r,
            extensions: { ...r.extensions, responseCache: { hit: false, didCache: false } },
          } as never);
        } else if (r.extensions?.responseCache && !exposed) {
          const { responseCache: _hidden, ...rest } = r.extensions;
          setResult({ ...r, extensions: Object.keys(rest).length ? rest : undefined } as never);
        }
      },
      // A conditional request (`If-None-Match`) gets 304 only when the tag is the key of its own
      // request: same query, variables and visibility scope.
      onResponse: ({ request, response, setResponse }) => {
        const lookup = this.#lookups.get(request);
        if (!lookup) return;
        this.#endKey(lookup);
        if (lookup.notStored || response.status !== 200) return;
        const tag = request.headers.get('if-none-match');
        const etag = tag && response.headers.get('etag');
        if (!tag || !etag || etag !== lookup.key) return;
        if (!tag.split(/\s*,\s*/).includes(etag)) return;
        const headers = new Headers(response.headers);
        headers.delete('content-type');
        headers.delete('content-length');
        setResponse(new Response(null, { status: 304, headers }));
      },
    };
    return [admit, responseCache as Plugin, accounting];
  }

  #countOperation(operation: string, result: 'hit' | 'miss'): void {
    let counts = this.#byOperation.get(operation);
    if (!counts) {
      counts = { hits: 0, misses: 0 };
      this.#byOperation.set(operation, counts);
    }
    if (result === 'hit') counts.hits += 1;
    else counts.misses += 1;
  }

  async stats(): Promise<CacheStats> {
    const store = await this.store.stats().catch(() => ({ entries: 0, bytes: 0, evictions: 0 }));
    const total = this.#hits + this.#misses;
    return {
      mode: this.store.kind,
      hits: this.#hits,
      misses: this.#misses,
      hitRate: total ? this.#hits / total : null,
      ...store,
      invalidations: this.#invalidations,
      skippedStale: this.#skippedStale,
      byOperation: [...this.#byOperation].map(([operation, c]) => ({
        operation,
        hits: c.hits,
        misses: c.misses,
      })),
      invalidationsByType: [...this.#invalidationsByType].map(([type, count]) => ({ type, count })),
    };
  }

  async close(): Promise<void> {
    await this.#broadcaster?.close();
    await this.store.close();
  }
}

function tagType(tag: string): string {
  if (tag.startsWith('L:')) return /^L:(\w+)/.exec(tag)?.[1] ?? 'list';
  return tag.split(':')[0] ?? 'other';
}
