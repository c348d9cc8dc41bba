/** Prometheus metrics on /metrics (prom-client), one registry per app instance. */

import type pg from 'pg';
import client from 'prom-client';
import { onStatement } from '../db/query-log.ts';
import { registerJobAttemptMetrics, registerJobQueueMetrics } from '../jobs/metrics.ts';
import { registerPoolMetrics } from './pool-metrics.ts';
import { registerReadyMetric } from './ready-metric.ts';

export interface Metrics {
  registry: client.Registry;
  httpDuration: client.Histogram<'method' | 'route' | 'status'>;
  graphqlDuration: client.Histogram<'operation' | 'type' | 'outcome'>;
  sqlDuration: client.Histogram<'verb'>;
  statementsPerRequest: client.Histogram<string>;
  stop(): void;
}

/** Routes Postline serves; any other path is counted as `other` (labels never come from clients). */
const ROUTES = new Set(['/graphql', '/health', '/ready', '/metrics']);

/** The `route` label of a request URL: one of ROUTES, or `other`. */
export function routeLabel(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2);
  const end = url.indexOf('?', start);
  const path = start < 0 ? '/' : url.slice(start, end < 0 ? undefined : end);
  return ROUTES.has(path) ? path : 'other';
}

/** Distinct operation names kept as label values; later new names are counted as `other`. */
export const MAX_OPERATION_LABELS = 50;
const operationNames = new Set<string>();

/**
 * An operation name as a metric label: the first MAX_OPERATION_LABELS distinct well-formed names
 * (word characters, at most 64) this process sees, then `other`; `anonymous` without a name.
 * Bounded, so clients cannot grow /metrics by inventing names.
 */
export function boundedOperation(name: string | null | undefined): string {
  if (!name) return 'anonymous';
  if (operationNames.has(name)) return name;
  if (!/^\w{1,64}$/.test(name) || operationNames.size >= MAX_OPERATION_LABELS) return 'other';
  operationNames.add(name);
  return name;
}

const verbOf = (sql: string) => /^\s*(\w+)/.exec(sql)?.[1]?.toUpperCase() ?? 'OTHER';

/** Seconds: SQL statements run from under a millisecond to seconds. */
const SQL_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

export function createMetrics(pool: pg.Pool): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const httpDuration = new client.Histogram({
    name: 'postline_http_request_duration_seconds',
    help: 'HTTP request duration',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const graphqlDuration = new client.Histogram({
    name: 'postline_graphql_operation_duration_seconds',
    help: 'GraphQL operation duration by operation name',
    labelNames: ['operation', 'type', 'outcome'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const sqlDuration = new client.Histogram({
    name: 'postline_sql_statement_duration_seconds',
    help: 'SQL statement wall time by verb: sent to result handled, including any wait for a busy event loop',
    labelNames: ['verb'] as const,
    buckets: SQL_BUCKETS,
    registers: [registry],
  });
  const sqlDbDuration = new client.Histogram({
    name: 'postline_sql_statement_db_duration_seconds',
    help: 'SQL statement database time by verb (estimated): wall time less the wait for a stalled event loop',
    labelNames: ['verb'] as const,
    buckets: SQL_BUCKETS,
    registers: [registry],
  });
  const sqlLoopWait = new client.Histogram({
    name: 'postline_sql_statement_loop_wait_seconds',
    help: 'Time a SQL result waited for a stalled event loop before it was handled (0 when the loop kept turning)',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const statementsPerRequest = new client.Histogram({
    name: 'postline_sql_statements_per_request',
    help: 'SQL statements issued per GraphQL request',
    buckets: [0, 1, 2, 3, 4, 6, 8, 12, 16, 32, 64],
    registers: [registry],
  });
  const stopPoolMetrics = registerPoolMetrics(registry, pool);
  registerReadyMetric(registry, pool);
  registerJobQueueMetrics(registry, pool);
  registerJobAttemptMetrics(registry);
  const unsubscribe = onStatement((record) => {
    const verb = verbOf(record.sql);
    sqlDuration.observe({ verb }, record.durationMs / 1000);
    sqlDbDuration.observe({ verb }, (record.durationMs - record.loopWaitMs) / 1000);
    sqlLoopWait.observe(record.loopWaitMs / 1000);
  });
  return {
    registry,
    httpDuration,
    graphqlDuration,
    sqlDuration,
    statementsPerRequest,
    stop() {
      unsubscribe();
      stopPoolMetrics();
    },
  };
}
