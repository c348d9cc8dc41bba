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

const verbOf = (sql: string) => /^\s*(\w+)/.exec(sql)?.[1]?.toUpperCase() ?? 'OTHER';

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
    help: 'SQL statement duration by verb',
    labelNames: ['verb'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
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
    sqlDuration.observe({ verb: verbOf(record.sql) }, record.durationMs / 1000);
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
