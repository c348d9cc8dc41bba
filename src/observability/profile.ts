/**
 * Per-request profiling: resolver timings (from @pothos/plugin-tracing), SQL statement timings
 * (from the pool's TimedClient via the request's query log), the slow-query and slow-operation
 * log, metrics by SQL model/action and by traced resolver, and optional OpenTelemetry spans.
 *
 * The profile is returned in `extensions.profile` only to an ADMIN who sends
 * `x-postline-profile: 1`, or to anyone when NODE_ENV=development. It is attached in Yoga's
 * `onResultProcess`, after execution and after any response cache has stored the result, to a
 * copy of the result: a cached response never carries a profile.
 */

import type { PothosOutputFieldConfig, SchemaTypes } from '@pothos/core';
import { isEnumField, isExposedField, isRootField, isScalarField } from '@pothos/plugin-tracing';
import { type GraphQLFieldResolver, type GraphQLResolveInfo, getOperationAST } from 'graphql';
import type { Plugin, YogaInitialContext } from 'graphql-yoga';
import client from 'prom-client';
import type { Config } from '../config.ts';
import { onStatement, type QueryLog } from '../db/query-log.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import { createSpanSink, type SpanSink } from './otel.ts';

export const PROFILE_HEADER = 'x-postline-profile';

export interface ResolverTiming {
  /** `Type.field` */
  field: string;
  /** Response path, e.g. `posts.edges.3.node.project`. */
  path: string;
  /** Start, in ms since the operation started. */
  startMs: number;
  durationMs: number;
  error?: true;
}

export interface SqlTiming {
  sql: string;
  startMs: number;
  /** Wall time: sent → result handled, any wait for a busy event loop included. */
  durationMs: number;
  /** Database time (estimated): durationMs less loopWaitMs. */
  dbMs: number;
  /** Time the result waited for a stalled event loop (src/db/loop-wait.ts). */
  loopWaitMs: number;
  rows: number;
  error?: string;
}

export interface Profile {
  operationName: string;
  totalMs: number;
  statementCount: number;
  /** Wall time of the statements. */
  sqlMs: number;
  /** Database time of the statements (estimated): sqlMs less their waits for the event loop. */
  sqlDbMs: number;
  resolvers: ResolverTiming[];
  statements: SqlTiming[];
}

/** What one executed operation records. */
interface RequestTrace {
  operation: string;
  requestId: string | undefined;
  /** performance.now() at the start of execution */
  started: number;
  durationMs: number | null;
  /** Keep details (profile or spans); counts and metrics are kept regardless. */
  detailed: boolean;
  profiled: boolean;
  resolvers: ResolverTiming[];
  statements: SqlTiming[];
  log: QueryLog | undefined;
  app: ProfilingState;
}

interface ProfilingState {
  resolverDuration: client.Histogram<'field'>;
}

/**
 * `tracing.default`: which fields are timed. Root fields (queries, mutations, `node`) and
 * `totalCount` (a count query), and every non-exposed field that returns an object: relations
 * (`post.project`) and nested connections (`project.posts`). Not scalars, enums or exposed
 * columns, nor the connection/edge/payload wrappers, which only hand over loaded values.
 */
export function shouldTrace<Types extends SchemaTypes>(config: PothosOutputFieldConfig<Types>) {
  if (isRootField(config)) return true;
  if (config.name === 'totalCount') return true;
  if (
    /(Connection|Edge|Payload|Count|Stats)$/.test(config.parentType) ||
    config.parentType === 'PageInfo'
  ) {
    return false;
  }
  return !isScalarField(config) && !isEnumField(config) && !isExposedField(config);
}

/** Traces by per-request context object, so resolvers can find theirs (see `traceResolver`). */
const byContext = new WeakMap<object, RequestTrace>();

/**
 * `tracing.wrap` for the builder: times a traced resolver into its request's trace. A resolver
 * running outside an operation this module set up (none in practice) runs untimed.
 */
export function traceResolver<C extends object>(
  resolver: GraphQLFieldResolver<unknown, C, {}>,
  field: string,
): GraphQLFieldResolver<unknown, C, {}> {
  return (source, args, ctx, info) => {
    const trace = byContext.get(ctx);
    if (!trace) return resolver(source, args, ctx, info);
    const start = performance.now();
    let done = false;
    const end = (error: unknown) => {
      if (done) return;
      done = true;
      const durationMs = performance.now() - start;
      trace.app.resolverDuration.observe({ field }, durationMs / 1000);
      if (trace.detailed) {
        trace.resolvers.push({
          field,
          path: pathOf(info),
          startMs: round(start - trace.started),
          durationMs: round(durationMs),
          ...(error ? { error: true as const } : {}),
        });
      }
    };
    let result: unknown;
    try {
      result = resolver(source, args, ctx, info);
    } catch (err) {
      end(err);
      throw err;
    }
    if (result && typeof (result as PromiseLike<unknown>).then === 'function') {
      return (result as Promise<unknown>).then(
        (v) => {
          end(null);
          return v;
        },
        (err: unknown) => {
          end(err);
          throw err;
        },
      );
    }
    end(null);
    return result;
  };
}

function pathOf(info: GraphQLResolveInfo): string {
  const parts: (string | number)[] = [];
  for (let p: GraphQLResolveInfo['path'] | undefined = info.path; p; p = p.prev) parts.push(p.key);
  return parts.reverse().join('.');
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

/**
 * SQL safe to log: string literals and bare numbers become `?`. Postline's statements carry
 * every value as a `$n` parameter already; this is the belt to that pair of braces.
 */
export function redactSql(sql: string): string {
  return sql
    .replace(/'(?:[^']|'')*'/g, "'?'")
    .replace(/(?<![\w$."])-?\d+(?:\.\d+)?(?![\w"])/g, '?')
    .replace(/\s+/g, ' ')
    .trim();
}

const MODELS: Record<string, string> = {
  users: 'User',
  clients: 'Client',
  projects: 'Project',
  posts: 'Post',
  deliverables: 'Deliverable',
};

/**
 * Model and action of a statement, from its text. Postline's hot statements are raw SQL
 * (keyset pages, LATERAL batches, counts), which Prisma's query extension cannot attribute
 * to a model; the text can, and it also covers Prisma's own statements.
 */
const classified = new Map<string, { model: string; action: string }>();

/** classifySql, remembered per statement text (the set of texts is small and bounded). */
function classifyCached(sql: string): { model: string; action: string } {
  let c = classified.get(sql);
  if (!c) {
    c = classifySql(sql);
    if (classified.size < 2000) classified.set(sql, c);
  }
  return c;
}

export function classifySql(sql: string): { model: string; action: string } {
  const verb = /^\s*\(?\s*(\w+)/.exec(sql)?.[1]?.toUpperCase() ?? 'OTHER';
  const table =
    /\b(?:FROM|INTO|UPDATE|JOIN)\s+(?:"public"\.)?"?([a-z_]+)"?/i.exec(sql)?.[1]?.toLowerCase() ??
    '';
  const model = MODELS[table] ?? (table.startsWith('_prisma') ? 'Migration' : 'other');
  let action: string;
  switch (verb) {
    case 'SELECT':
      if (/^\s*SELECT p\.parent_id\b/.test(sql)) action = 'nestedPage';
      else if (/\bseg\.id\b/.test(sql)) action = 'page';
      else if (/\bcount\(/i.test(sql)) action = 'count';
      else action = 'find';
      break;
    case 'INSERT':
      action = 'create';
      break;
    case 'UPDATE':
      action = 'update';
      break;
    case 'DELETE':
      action = 'delete';
      break;
    case 'BEGIN':
    case 'COMMIT':
    case 'ROLLBACK':
      return { model: 'none', action: 'transaction' };
    default:
      action = verb.toLowerCase();
  }
  return { model, action };
}

export interface Profiling {
  plugin: Plugin<Record<string, unknown>>;
  /** Exports pending spans (OpenTelemetry), if any. */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

interface ProfilingOptions {
  config: Pick<
    Config,
    | 'env'
    | 'slowQueryMs'
    | 'slowOperationMs'
    | 'otlpEndpoint'
    | 'otelServiceName'
    | 'resolverSampleRate'
  >;
  logger: Logger;
  metrics: Metrics;
}

type ExecContext = Partial<YogaInitialContext> & {
  queryLog?: QueryLog;
  requestId?: string;
  viewer?: { role: string } | null;
};

export function createProfiling({ config, logger, metrics }: ProfilingOptions): Profiling {
  const sqlByModel = new client.Histogram({
    name: 'postline_sql_query_duration_seconds',
    help: 'SQL statement wall time by model and action (derived from the statement), any wait for a busy event loop included',
    labelNames: ['model', 'action'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [metrics.registry],
  });
  const resolverDuration = new client.Histogram({
    name: 'postline_graphql_resolver_duration_seconds',
    help: 'Duration of traced resolvers (relations, connections, root fields) by Type.field',
    labelNames: ['field'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [metrics.registry],
  });
  const state: ProfilingState = { resolverDuration };
  const sampleRate = config.resolverSampleRate;
  const sink: SpanSink | null = config.otlpEndpoint
    ? createSpanSink(config.otlpEndpoint, config.otelServiceName)
    : null;
  const byLog = new WeakMap<QueryLog, RequestTrace>();
  const byRequest = new WeakMap<object, RequestTrace>();

  const unsubscribe = onStatement((record, log) => {
    const now = performance.now();
    const { model, action } = classifyCached(record.sql);
    sqlByModel.observe({ model, action }, record.durationMs / 1000);
    const trace = log ? byLog.get(log) : undefined;
    // Only statements of this app's operations: the pool is shared by jobs and scripts too.
    if (!trace) return;
    const dbMs = record.durationMs - record.loopWaitMs;
    if (trace.detailed) {
      trace.statements.push({
        sql: record.sql,
        startMs: round(now - record.durationMs - trace.started),
        durationMs: round(record.durationMs),
        dbMs: round(dbMs),
        loopWaitMs: round(record.loopWaitMs),
        rows: record.rows,
        ...(record.error ? { error: record.error } : {}),
      });
    }
    // Slow when the database was slow: a result that sat waiting for a busy process is not.
    if (dbMs > config.slowQueryMs || config.slowQueryMs === 0) {
      logger.warn(
        {
          event: 'slow_query',
          operation: trace.operation,
          requestId: trace.requestId,
          dbMs: round(dbMs),
          durationMs: round(record.durationMs),
          loopWaitMs: round(record.loopWaitMs),
          thresholdMs: config.slowQueryMs,
          rows: record.rows,
          model,
          action,
          sql: redactSql(record.sql),
        },
        'slow query',
      );
    }
  });

  const wantsProfile = (ctx: ExecContext): boolean => {
    if (config.env === 'development') return true;
    const header = ctx.request?.headers.get(PROFILE_HEADER)?.trim().toLowerCase();
    return (header === '1' || header === 'true') && ctx.viewer?.role === 'ADMIN';
  };

  const plugin: Plugin<Record<string, unknown>> = {
    onExecute({ args }) {
      const ctx = args.contextValue as ExecContext;
      const profiled = wantsProfile(ctx);
      const trace: RequestTrace = {
        operation:
          getOperationAST(args.document, args.operationName)?.name?.value ??
          args.operationName ??
          'anonymous',
        requestId: ctx.requestId,
        started: performance.now(),
        durationMs: null,
        detailed: profiled || sink !== null,
        profiled,
        resolvers: [],
        statements: [],
        log: ctx.queryLog,
        app: state,
      };
      // Resolvers are timed only for profiled or exported operations and a sample of the rest
      // (RESOLVER_TIMING_SAMPLE_RATE): untraced, a traced resolver's wrapper is one lookup.
      if (trace.detailed || (sampleRate > 0 && Math.random() < sampleRate)) {
        byContext.set(ctx, trace);
      }
      if (ctx.queryLog) byLog.set(ctx.queryLog, trace);
      if (ctx.request) byRequest.set(ctx.request, trace);
      return {
        onExecuteDone() {
          const durationMs = performance.now() - trace.started;
          trace.durationMs = durationMs;
          if (durationMs > config.slowOperationMs) {
            logger.warn(
              {
                event: 'slow_operation',
                operation: trace.operation,
                requestId: trace.requestId,
                durationMs: round(durationMs),
                thresholdMs: config.slowOperationMs,
                statements: trace.log?.count ?? 0,
                sqlMs: round(trace.log?.totalMs ?? 0),
                sqlDbMs: round(trace.log?.dbMs ?? 0),
              },
              'slow operation',
            );
          }
          sink?.record(toSpanInput(trace));
        },
      };
    },
    onResultProcess({ request, result, setResult }) {
      const trace = byRequest.get(request);
      if (!trace?.profiled || trace.durationMs === null) return;
      if (Array.isArray(result) || !result || Symbol.asyncIterator in result) return;
      // A copy: the object may be the one a response cache keeps.
      setResult({ ...result, extensions: { ...result.extensions, profile: toProfile(trace) } });
    },
  };

  return {
    plugin,
    flush: async () => {
      await sink?.flush();
    },
    stop: async () => {
      unsubscribe();
      await sink?.shutdown();
    },
  };
}

function toProfile(trace: RequestTrace): Profile {
  return {
    operationName: trace.operation,
    totalMs: round(trace.durationMs ?? 0),
    statementCount: trace.log?.count ?? trace.statements.length,
    sqlMs: round(trace.log?.totalMs ?? 0),
    sqlDbMs: round(trace.log?.dbMs ?? 0),
    resolvers: trace.resolvers,
    statements: trace.statements,
  };
}

function toSpanInput(trace: RequestTrace) {
  const origin = performance.timeOrigin + trace.started;
  return {
    operation: trace.operation,
    requestId: trace.requestId,
    startEpochMs: origin,
    durationMs: trace.durationMs ?? 0,
    statementCount: trace.log?.count ?? trace.statements.length,
    resolvers: trace.resolvers.map((r) => ({
      name: r.field,
      path: r.path,
      startEpochMs: origin + r.startMs,
      durationMs: r.durationMs,
      error: r.error === true,
    })),
    statements: trace.statements.map((s) => ({
      sql: redactSql(s.sql),
      ...classifySql(s.sql),
      startEpochMs: origin + s.startMs,
      durationMs: s.durationMs,
      dbMs: s.dbMs,
      loopWaitMs: s.loopWaitMs,
      rows: s.rows,
      error: s.error,
    })),
  };
}

export type OperationSpans = ReturnType<typeof toSpanInput>;
