/**
 * Persisted operations: clients send an id instead of the query text.
 *
 * - Automatic persisted queries (APQ, Apollo's protocol, also urql's persisted exchange): the
 *   client sends `extensions.persistedQuery.sha256Hash` alone; on `PersistedQueryNotFound` it
 *   sends the query with the hash once, which registers it (the hash is checked, and only a
 *   document that parsed and validated is kept); later requests send the hash alone again.
 * - Trusted documents: a manifest produced by the client build (`TRUSTED_DOCUMENTS`). With
 *   `trustedOnly` (always in production) nothing else runs: no query text, no APQ.
 *
 * The lookup is Yoga's `usePersistedOperations`; it replaces the hash with the document in
 * the request's params before anything else reads them. These plugins must therefore come
 * before the response cache (which keys on the query text before parsing): a hash-only request
 * is keyed, cached and authorized exactly like the same query sent in full.
 */
import { createHash } from 'node:crypto';
import { usePersistedOperations } from '@graphql-yoga/plugin-persisted-operations';
import { GraphQLError, type GraphQLSchema } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import client from 'prom-client';
import type { Config } from '../config.ts';
import type { Logger } from '../observability/logger.ts';
import { DOCUMENT_ID, loadTrustedDocuments } from './manifest.ts';
import { type DocumentStore, MemoryDocumentStore, RedisDocumentStore } from './store.ts';

export type PersistedSettings = Config['persisted'];

const SHA256_HEX = /^[0-9a-f]{64}$/;
/** GraphQL Codegen writes hashes as `sha256:<hex>`; the APQ protocol sends bare hex. */
const bareHash = (id: string) => (id.startsWith('sha256:') ? id.slice(7) : id);

type Params = {
  query?: string;
  extensions?: Record<string, unknown>;
  documentId?: unknown;
  doc_id?: unknown;
};

function requestError(message: string, code: string, status: number, field?: string) {
  return new GraphQLError(message, {
    extensions: { code, ...(field ? { field } : {}), http: { status } },
  });
}

/** `extensions.persistedQuery.sha256Hash` when the request uses Apollo's protocol (version 1). */
function apqHash(params: Params): string | null {
  const pq = params.extensions?.persistedQuery as
    | { version?: unknown; sha256Hash?: unknown }
    | undefined;
  if (!pq || typeof pq !== 'object') return null;
  if (pq.version !== 1) {
    throw requestError(
      'Only version 1 of extensions.persistedQuery is supported',
      'BAD_REQUEST',
      400,
      'extensions.persistedQuery.version',
    );
  }
  if (typeof pq.sha256Hash !== 'string' || !SHA256_HEX.test(bareHash(pq.sha256Hash))) {
    throw requestError(
      '`extensions.persistedQuery.sha256Hash` must be the SHA-256 of the query, as 64 lowercase hex digits',
      'BAD_REQUEST',
      400,
      'extensions.persistedQuery.sha256Hash',
    );
  }
  return bareHash(pq.sha256Hash);
}

/** The id of a persisted operation: APQ hash, or `documentId` / `doc_id` (body or GET query). */
function extractId(params: Params, request: Request): string | null {
  const hash = apqHash(params);
  if (hash) return hash;
  let id = params.documentId ?? params.doc_id;
  if (id == null && request.method === 'GET') {
    const search = new URL(request.url).searchParams;
    id = search.get('documentId') ?? search.get('doc_id');
  }
  if (id == null) return null;
  if (typeof id !== 'string' || !DOCUMENT_ID.test(id)) {
    throw requestError(
      '`documentId` must be 1-128 letters, digits or _:.-',
      'BAD_REQUEST',
      400,
      'documentId',
    );
  }
  return id;
}

export interface PersistedOperations {
  plugins: Plugin[];
  /** Trusted documents loaded from the manifests (0 when none). */
  trustedCount: number;
  store: DocumentStore | null;
  close(): Promise<void>;
}

export function createPersistedOperations(
  settings: PersistedSettings,
  schema: GraphQLSchema,
  registry: client.Registry,
  logger: Logger,
): PersistedOperations {
  const { byId: trusted, count: trustedCount } = settings.trustedDocuments.length
    ? loadTrustedDocuments(settings.trustedDocuments, schema)
    : { byId: new Map<string, string>(), count: 0 };
  const apqOn = settings.apq && !settings.trustedOnly;
  const bounds = {
    maxEntries: settings.maxEntries,
    maxBytes: settings.maxBytes,
    ttlMs: settings.ttlMs,
  };
  const store: DocumentStore | null = !apqOn
    ? null
    : settings.redisUrl
      ? new RedisDocumentStore(settings.redisUrl, settings.redisPrefix, bounds)
      : new MemoryDocumentStore(bounds);

  const outcomes = new client.Counter({
    name: 'postline_persisted_operations_total',
    help: 'Persisted operation lookups and registrations, by kind (apq, trusted) and result',
    labelNames: ['kind', 'result'] as const,
    registers: [registry],
  });

  /** Requests whose query came from a store (never registered again). */
  const resolved = new WeakSet<object>();
  /** APQ registrations waiting for the document to prove valid. */
  const pending = new WeakMap<object, { hash: string; query: string }>();

  const lookup = usePersistedOperations({
    allowArbitraryOperations: !settings.trustedOnly,
    extractPersistedOperationId: (params, request) => extractId(params as Params, request),
    getPersistedOperation: async (id, _request, context) => {
      const document = trusted.get(id);
      if (document !== undefined) {
        outcomes.inc({ kind: 'trusted', result: 'hit' });
        resolved.add(context);
        return document;
      }
      if (!store || !SHA256_HEX.test(id)) {
        outcomes.inc({ kind: settings.trustedOnly ? 'trusted' : 'apq', result: 'miss' });
        return null;
      }
      let found: string | undefined;
      try {
        found = await store.get(id);
      } catch (err) {
        // A store outage degrades to "not found": Apollo and urql then send the full query.
        logger.warn({ err }, 'persisted query store read failed');
      }
      outcomes.inc({ kind: 'apq', result: found === undefined ? 'miss' : 'hit' });
      if (found !== undefined) resolved.add(context);
      return found ?? null;
    },
    customErrors: {
      notFound: () =>
        settings.trustedOnly
          ? requestError(
              'Unknown operation: this server runs only the operations in its trusted documents (the manifest of your client build)',
              'PERSISTED_QUERY_NOT_IN_LIST',
              400,
            )
          : store
            ? // Apollo's and urql's links recognise this exact message and send the full query.
              requestError('PersistedQueryNotFound', 'PERSISTED_QUERY_NOT_FOUND', 200)
            : requestError('PersistedQueryNotSupported', 'PERSISTED_QUERY_NOT_SUPPORTED', 200),
      keyNotFound: () => requestError('Must provide query string.', 'BAD_REQUEST', 400, 'query'),
      persistedQueryOnly: () => {
        outcomes.inc({ kind: 'trusted', result: 'refused' });
        return requestError(
          'This server runs only trusted documents: send the operation id (`extensions.persistedQuery.sha256Hash` or `documentId`) from your client build, not the query text',
          'PERSISTED_QUERY_ONLY',
          400,
        );
      },
    },
  }) as Plugin;

  /** APQ registration: the query sent with its hash after a PersistedQueryNotFound. */
  const registration: Plugin = {
    onParams({ params, context }) {
      if (!store || resolved.has(context)) return;
      const p = params as Params;
      if (typeof p.query !== 'string') return;
      const hash = apqHash(p);
      if (!hash) return;
      // Size first: an oversized document is never hashed or kept (it still runs, and the
      // client keeps sending it in full).
      if (Buffer.byteLength(p.query) > settings.maxDocumentBytes) {
        outcomes.inc({ kind: 'apq', result: 'too_large' });
        return;
      }
      if (createHash('sha256').update(p.query).digest('hex') !== hash) {
        outcomes.inc({ kind: 'apq', result: 'mismatch' });
        throw requestError(
          '`extensions.persistedQuery.sha256Hash` is not the SHA-256 of the query text',
          'BAD_REQUEST',
          400,
          'extensions.persistedQuery.sha256Hash',
        );
      }
      pending.set(context, { hash, query: p.query });
    },
    // A result with `data` (or a stream) means the document parsed and validated, or was a
    // response-cache hit of one that did: only then is it worth keeping.
    async onExecutionResult({ result, context }) {
      const entry = pending.get(context);
      if (!entry || !store) return;
      pending.delete(context);
      const valid =
        isAsyncIterable(result) ||
        (!!result && !Array.isArray(result) && (result as { data?: unknown }).data !== undefined);
      if (!valid) return;
      try {
        await store.set(entry.hash, entry.query);
        outcomes.inc({ kind: 'apq', result: 'registered' });
      } catch (err) {
        logger.warn({ err }, 'persisted query store write failed');
      }
    },
  };

  return {
    plugins: [lookup, registration],
    trustedCount,
    store,
    close: async () => {
      await store?.close();
    },
  };
}
