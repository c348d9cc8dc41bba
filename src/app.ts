/**
 * The Yoga app: schema, per-request context, and the plugin list in the order it runs.
 * Exported for tests, which call `app.yoga.fetch` so every plugin is exercised.
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { blockFieldSuggestionsPlugin } from '@escape.tech/graphql-armor-block-field-suggestions';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import { GraphQLError, getOperationAST } from 'graphql';
import { createYoga, type Plugin, type YogaInitialContext } from 'graphql-yoga';
import { authenticationPlugin, hasInvalidToken, viewerForRequest } from './auth/request-auth.ts';
import { createAuthServices } from './auth/services.ts';
import { ResponseCache } from './cache/response-cache.ts';
import type { Context, Services } from './context.ts';
import { migrationStatus } from './db/migrations.ts';
import { newQueryLog, runWithQueryLog } from './db/query-log.ts';
import { serviceUnavailable } from './errors.ts';
import { jitPlugin, withLocationNodes } from './execution/jit.ts';
import { Drain } from './http/drain.ts';
import { graphiqlAssetsPlugin, renderOfflineGraphiQL } from './http/graphiql.ts';
import { multipartSubscriptionsPlugin } from './http/multipart-subscriptions.ts';
import type { RequestTiming } from './http-server.ts';
import { operationTimeoutPlugin } from './limits/operation-timeout.ts';
import { queryLimitsPlugin } from './limits/query-limits.ts';
import { LazyRequestLogger } from './observability/logger.ts';
import {
  boundedOperation,
  createMetrics,
  type Metrics,
  routeLabel,
} from './observability/metrics.ts';
import { createProfiling, type Profiling } from './observability/profile.ts';
import { createPersistedOperations, type PersistedOperations } from './persisted/operations.ts';
import { schema } from './schema/index.ts';
import { requestBodyPlugin, securityHeadersPlugin } from './security/http.ts';

/** Errors that mean the database is unreachable or the pool is exhausted. */
export function isDatabaseUnavailable(err: unknown): boolean {
  const seen = new Set<unknown>();
  for (let e: unknown = err; e && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e);
    const message = String((e as { message?: unknown }).message ?? '');
    const code = String((e as { code?: unknown }).code ?? '');
    if (
      /timeout exceeded when trying to connect|Connection terminated|ECONNREFUSED|ECONNRESET|the database system is (starting up|shutting down)|terminating connection|Can't reach database|Client has encountered a connection error/i.test(
        message,
      ) ||
      ['57P01', '57P02', '57P03', '08006', '08001', '08003', 'P1001', 'P1017', 'P2024'].includes(
        code,
      )
    ) {
      return true;
    }
  }
  return false;
}

export interface App {
  yoga: ReturnType<typeof createYoga<Record<string, unknown>, Context>>;
  metrics: Metrics;
  /** Resolver/SQL profiles, slow-query log, OpenTelemetry export. */
  profiling: Profiling;
  services: Services;
  cache: ResponseCache | null;
  /** APQ store and trusted documents; close() releases the store's Redis connection. */
  persisted: PersistedOperations;
  /** Graceful shutdown: /ready 503, `connection: close`, subscription streams completed. */
  drain: Drain;
}

interface ServerContext {
  requestId?: string;
}

export function createApp(services: Services): App {
  const { config, logger, tokens, pool } = services;
  const metrics = createMetrics(pool);
  const profiling = createProfiling({ config, logger, metrics });
  const cache =
    config.cache.mode === 'off' ? null : new ResponseCache(config.cache, logger, metrics.registry);
  // Writers (mutations here, jobs running inline) clear cached responses through services.cache.
  services.cache = cache;
  // Token revocation and login throttling; closed with services.auth.close().
  const auth = createAuthServices(config, pool, logger);
  services.auth = auth;
  const persisted = createPersistedOperations(config.persisted, schema, metrics.registry, logger);
  const drain = new Drain();

  /** Whether this request may read /metrics on the API port (see README, "Security"). */
  const metricsAllowed = (request: Request): boolean => {
    if (config.metrics.port !== null) return false; // served on its own port only
    if (config.metrics.token === undefined) return !config.production;
    const given = Buffer.from(
      /^Bearer\s+(\S+)$/i.exec(request.headers.get('authorization') ?? '')?.[1] ?? '',
    );
    const expected = Buffer.from(config.metrics.token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  };

  /** /ready, /metrics: answered before GraphQL handling. */
  const operationalEndpoints: Plugin = {
    async onRequest({ url, request, endResponse, fetchAPI }) {
      if (url.pathname === '/metrics') {
        if (!metricsAllowed(request)) {
          endResponse(
            fetchAPI.Response.json(
              {
                errors: [
                  {
                    message:
                      'Metrics need `Authorization: Bearer <METRICS_TOKEN>` (or are served on METRICS_PORT)',
                    extensions: { code: 'FORBIDDEN' },
                  },
                ],
              },
              { status: 403 },
            ),
          );
          return;
        }
        endResponse(await metricsResponse(metrics, fetchAPI.Response));
      } else if (url.pathname === '/ready') {
        let body: Record<string, unknown>;
        if (drain.draining) {
          // Shutting down: the load balancer stops sending traffic before the listener closes.
          endResponse(
            fetchAPI.Response.json({ status: 'draining', pid: process.pid }, { status: 503 }),
          );
          return;
        }
        try {
          const status = await migrationStatus(pool);
          body = status.applied
            ? { status: 'ready', pid: process.pid }
            : { status: 'unavailable', reason: 'migrations pending', pending: status.pending };
        } catch (err) {
          logger.warn({ err }, 'readiness check: database unreachable');
          body = { status: 'unavailable', reason: 'database unreachable' };
        }
        endResponse(fetchAPI.Response.json(body, { status: body.status === 'ready' ? 200 : 503 }));
      }
    },
  };

  /** Request id from `x-request-id` or generated; echoed back; HTTP duration observed. */
  const requestTiming: Plugin = {
    onRequest({ request, serverContext }) {
      const ctx = serverContext as ServerContext;
      const given = request.headers.get('x-request-id');
      ctx.requestId = given && /^[\w.:-]{1,100}$/.test(given) ? given : randomUUID();
    },
    onResponse({ request, response, serverContext }) {
      const ctx = serverContext as ServerContext & Partial<RequestTiming>;
      if (ctx.requestId) response.headers.set('x-request-id', ctx.requestId);
      // Measured from the moment the HTTP server received the request (src/http-server.ts);
      // requests handed to `yoga.fetch` directly (tests) carry no arrival time.
      if (ctx.receivedAt === undefined) return;
      metrics.httpDuration.observe(
        {
          method: METHODS.has(request.method) ? request.method : 'OTHER',
          route: routeLabel(request.url),
          status: String(response.status),
        },
        (performance.now() - ctx.receivedAt) / 1000,
      );
    },
  };

  /**
   * Yoga attaches the JSON parser's own error (`extensions.originalError`) to "POST body sent
   * invalid JSON" outside error masking; production responses leave it out.
   */
  const hideParserErrors: Plugin = {
    onResultProcess({ result }) {
      const errors = (result as { errors?: readonly GraphQLError[] } | null)?.errors;
      if (!errors?.some((e) => e.extensions?.originalError)) return;
      for (const e of errors) {
        if (e.extensions?.originalError)
          delete (e.extensions as Record<string, unknown>).originalError;
      }
    },
  };

  /** Runs each operation inside a query log so SQL is attributed to the request. */
  const sqlAttribution: Plugin<Context> = {
    onExecute({ args, executeFn, setExecuteFn }) {
      const log = newQueryLog(false);
      (args.contextValue as Context & { queryLog?: typeof log }).queryLog = log;
      setExecuteFn((execArgs) => runWithQueryLog(log, () => executeFn(execArgs)));
      const started = performance.now();
      // The document's operation name: clients often send a named query without `operationName`.
      const operation = boundedOperation(
        getOperationAST(args.document, args.operationName)?.name?.value,
      );
      return {
        onExecuteDone({ result }) {
          const errors = 'errors' in result && result.errors?.length;
          metrics.statementsPerRequest.observe(log.count);
          metrics.graphqlDuration.observe(
            { operation, type: 'execute', outcome: errors ? 'error' : 'ok' },
            (performance.now() - started) / 1000,
          );
        },
      };
    },
  };

  const yoga = createYoga<Record<string, unknown>, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    graphiql: config.graphiql ? { title: 'Postline', defaultQuery: DEFAULT_QUERY } : false,
    // GraphiQL from the npm package, served by this server (no CDN): works offline.
    renderGraphiQL: renderOfflineGraphiQL,
    logging: false,
    healthCheckEndpoint: '/health',
    // No CORS headers unless CORS_ORIGINS lists the origins that may call with credentials;
    // never the caller's own Origin reflected back.
    cors: config.corsOrigins.length
      ? {
          origin: config.corsOrigins,
          credentials: !config.corsOrigins.includes('*'),
          methods: ['GET', 'POST', 'OPTIONS'],
          allowedHeaders: [
            'authorization',
            'content-type',
            'x-request-id',
            'x-graphql-yoga-csrf',
            'apollo-require-preflight',
            'x-apollo-operation-name',
          ],
          maxAge: 600,
        }
      : false,
    // Bodies are limited by requestBodyPlugin, per kind of request (Yoga's own limiter would
    // wrap every body in another stream).
    maxRequestBodySize: false,
    maskedErrors: {
      maskError(rawError, message) {
        const error = rawError instanceof GraphQLError ? withLocationNodes(rawError) : rawError;
        const original = error instanceof GraphQLError ? (error.originalError ?? error) : error;
        // A variable that failed to coerce (unknown enum value, malformed date, missing input):
        // graphql-js's message names the variable path; keep it, typed, naming that path.
        const variable =
          error instanceof GraphQLError && !error.path
            ? /^Variable "\$(\w+)"(?: got invalid value .*? at "([^"]+)")?/s.exec(error.message)
            : null;
        if (variable && error instanceof GraphQLError) {
          return new GraphQLError(error.message, {
            nodes: error.nodes,
            extensions: {
              ...error.extensions,
              code: 'BAD_USER_INPUT',
              field: variable[2] ?? variable[1],
            },
          });
        }
        // Typed errors keep graphql-js's wrapper, which carries the field's path.
        if (original instanceof GraphQLError && original.extensions?.code) {
          return error instanceof GraphQLError ? error : original;
        }
        if (error instanceof GraphQLError && !error.originalError) return error;
        if (isDatabaseUnavailable(original)) {
          return serviceUnavailable('The database is unavailable or busy; retry shortly');
        }
        logger.error({ err: original }, 'unexpected error');
        return new GraphQLError(message, { extensions: { code: 'INTERNAL_SERVER_ERROR' } });
      },
    },
    context: async (initial: YogaInitialContext & ServerContext): Promise<Context> => {
      const requestId = initial.requestId ?? randomUUID();
      if (hasInvalidToken(initial.request)) {
        throw new GraphQLError('The token is invalid or expired; sign in again', {
          extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
        });
      }
      const request = initial.request;
      return {
        ...services,
        viewer: viewerForRequest(request),
        request,
        recordCacheTags: cache ? (tags) => cache.recordTags(request, tags) : noTags,
        requestId,
        // A child logger per request only when something logs.
        log: new LazyRequestLogger(logger, requestId),
        loaders: new Map(),
      };
    },
    // Order matters. Yoga's own health check, CORS and GraphiQL run before these.
    plugins: [
      // First: every response gets the request id and the security headers, and is timed.
      requestTiming,
      securityHeadersPlugin({ hstsMaxAgeS: config.hstsMaxAgeS }),
      operationalEndpoints,
      // GraphiQL's script, styles and workers (only when GraphiQL is on): static files, answered
      // before the GraphQL checks below.
      ...(config.graphiql ? [graphiqlAssetsPlugin()] : []),
      ...(config.production ? [hideParserErrors] : []),
      // Apollo Client's multipart subscriptions, beside Yoga's SSE (only picks the response format).
      multipartSubscriptionsPlugin(),
      // On shutdown, open subscription streams complete (SSE and multipart alike).
      drain.plugin(),
      // Verifies the bearer token, and that it was not revoked, before anything can answer from
      // the cache or read a body.
      authenticationPlugin(tokens, auth.accounts, logger),
      // Body size limits, and uploads refused before their body is read unless the verified
      // caller may upload; needs the verdict of the authentication plugin.
      requestBodyPlugin({
        jsonBytes: config.limits.bodyBytes,
        multipartBytes: config.limits.multipartBytes,
      }),
      // Form, multipart and header-less GET requests need a header a browser cannot send
      // cross-site without a CORS preflight.
      useCSRFPrevention({ requestHeaders: CSRF_HEADERS }),
      // Production defaults: no schema discovery by strangers.
      ...(config.introspection ? [] : [useDisableIntrospection()]),
      ...(config.suggestions ? [] : [blockFieldSuggestionsPlugin()]),
      // Persisted operations turn an id into the query text, so they run before the response
      // cache keys on it: a hash-only request is cached and authorized like the full query.
      ...persisted.plugins,
      // Query limits: tokens while parsing, depth/aliases/directives while validating, cost as
      // execution starts, so every executed operation is checked and refused before any
      // resolver or SQL. Before the response cache, so a refusal never reaches it; cache hits
      // (answered before parsing) are responses of operations that passed these checks.
      queryLimitsPlugin(config.queryLimits),
      // Repeated operations run compiled (graphql-jit). It replaces the execute function, so it
      // comes before every plugin that wraps execution (the response cache, SQL attribution).
      ...(config.jit ? [jitPlugin()] : []),
      // The response cache wraps execution: a hit skips everything below it.
      ...(cache ? cache.plugins() : []),
      sqlAttribution,
      // Inside SQL attribution (it needs the request's query log, whose connections it cancels
      // and whose further SQL it refuses) and inside the cache (a timed-out result has errors and
      // is never stored). The pool enforces DB_POOL_MAX_PER_REQUEST through the same log.
      operationTimeoutPlugin(config.operationTimeoutMs),
      // After SQL attribution: it reads the request's query log, so only executed operations
      // (never cache hits) are profiled; it adds `extensions.profile` after the cache stored
      // the result, to a copy.
      profiling.plugin,
    ],
  });

  return { yoga, metrics, profiling, services, cache, persisted, drain };
}

const noTags = () => {};

const METHODS = new Set(['GET', 'POST', 'OPTIONS', 'HEAD']);

/** Headers that prove a request was preflighted (Yoga's, Apollo Client's and Apollo Server's). */
export const CSRF_HEADERS = [
  'x-graphql-yoga-csrf',
  'apollo-require-preflight',
  'x-apollo-operation-name',
];

/** The Prometheus text of `metrics`, for /metrics here and on METRICS_PORT. */
export async function metricsResponse(
  metrics: Metrics,
  ResponseCtor: typeof Response,
): Promise<Response> {
  return new ResponseCtor(await metrics.registry.metrics(), {
    headers: { 'content-type': metrics.registry.contentType },
  });
}

const DEFAULT_QUERY = `# Postline's GraphiQL: served by this server, works offline.
# 1. Run Login (play button, pick Login); copy the token.
# 2. Open the Headers tab below and paste:
#      { "Authorization": "Bearer <token>" }
#    It is sent with every request from this tab.
# 3. Run Feed. Other logins, same password:
#    manager@, editor@, client1@postline.dev
mutation Login {
  login(input: { email: "admin@postline.dev", password: "postline-demo" }) {
    token
    viewer { name role }
  }
}

query Feed {
  posts(first: 5, filter: { status: [SCHEDULED] }) {
    totalCount
    edges {
      node { id title platform scheduledAt project { name client { name } } }
    }
    pageInfo { hasNextPage endCursor }
  }
}
`;
