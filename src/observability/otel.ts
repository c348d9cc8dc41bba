/**
 * Optional OpenTelemetry export (OTLP over HTTP, JSON) of the spans the profiler records: one
 * span per operation, with its traced resolvers and its SQL statements as children. Spans are
 * built after the operation from the recorded timings, so nothing changes on the hot path when
 * OTEL_EXPORTER_OTLP_ENDPOINT is unset.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { OperationSpans } from './profile.ts';

export interface SpanSink {
  record(op: OperationSpans): void;
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** `endpoint` is the OTLP base URL (as OTEL_EXPORTER_OTLP_ENDPOINT); traces go to `/v1/traces`. */
export function createSpanSink(endpoint: string, serviceName: string): SpanSink {
  const url = `${endpoint.replace(/\/+$/, '')}/v1/traces`;
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url }))],
  });
  const tracer = provider.getTracer('postline');

  return {
    record(op) {
      const root = tracer.startSpan(
        `graphql ${op.operation}`,
        {
          kind: SpanKind.SERVER,
          startTime: op.startEpochMs,
          attributes: {
            'graphql.operation.name': op.operation,
            'postline.request_id': op.requestId ?? '',
            'postline.sql.statements': op.statementCount,
          },
        },
        ROOT_CONTEXT,
      );
      const parent = trace.setSpan(ROOT_CONTEXT, root);
      for (const r of op.resolvers) {
        const span = tracer.startSpan(
          `resolve ${r.name}`,
          {
            startTime: r.startEpochMs,
            attributes: { 'graphql.field.name': r.name, 'graphql.field.path': r.path },
          },
          parent,
        );
        if (r.error) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end(r.startEpochMs + r.durationMs);
      }
      for (const s of op.statements) {
        const span = tracer.startSpan(
          `sql ${s.model}.${s.action}`,
          {
            kind: SpanKind.CLIENT,
            startTime: s.startEpochMs,
            attributes: {
              'db.system': 'postgresql',
              'db.statement': s.sql,
              'db.operation': s.action,
              'db.sql.table': s.model,
              'db.response.returned_rows': s.rows,
              // The span is the wall time; these split it into database and event-loop wait.
              'postline.db_ms': s.dbMs,
              'postline.loop_wait_ms': s.loopWaitMs,
            },
          },
          parent,
        );
        if (s.error) span.setStatus({ code: SpanStatusCode.ERROR, message: s.error });
        span.end(s.startEpochMs + s.durationMs);
      }
      root.end(op.startEpochMs + op.durationMs);
    },
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}
