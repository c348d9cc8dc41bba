/**
 * Prometheus series for background jobs. Labels are bounded: `kind` is one of the task kinds
 * (anything else is `other`), `outcome` and `status` come from fixed lists.
 *
 * - Attempts and their durations are counted by the process that ran them: the API's
 *   /metrics with WORKER_MODE=inline, a worker's WORKER_METRICS_PORT otherwise.
 * - The queue (jobs pending, the oldest one ready to run, live runners) is read from the
 *   database when the API is scraped, so every API instance reports the same figures:
 *   aggregate with `max`, not `sum`.
 */
import type pg from 'pg';
import client from 'prom-client';
import { JOB_KINDS } from './queue.ts';

export type JobOutcome = 'succeeded' | 'retry' | 'failed' | 'cancelled';

const KINDS = new Set<string>(Object.keys(JOB_KINDS));
const kindLabel = (kind: string) => (KINDS.has(kind) ? kind : 'other');

/** A runner counts as live when its heartbeat is at most this old. */
export const LIVE_RUNNER_WINDOW_S = 60;

// One set per process, added to every registry that exposes it (registerJobAttemptMetrics).
const attempts = new client.Counter({
  name: 'postline_job_attempts_total',
  help: 'Job attempts run by this process, by kind and outcome (succeeded, retry, failed, cancelled)',
  labelNames: ['kind', 'outcome'] as const,
  registers: [],
});
const attemptDuration = new client.Histogram({
  name: 'postline_job_attempt_duration_seconds',
  help: 'Run time of job attempts in this process, by kind and outcome',
  labelNames: ['kind', 'outcome'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900],
  registers: [],
});

/** Counts one attempt; `seconds` is null for attempts refused before they ran. */
export function recordJobAttempt(kind: string, outcome: JobOutcome, seconds: number | null): void {
  const labels = { kind: kindLabel(kind), outcome };
  attempts.inc(labels);
  if (seconds !== null) attemptDuration.observe(labels, seconds);
}

/** Adds the attempt series to `registry`. */
export function registerJobAttemptMetrics(registry: client.Registry): void {
  registry.registerMetric(attempts);
  registry.registerMetric(attemptDuration);
}

interface QueueFigures {
  pending: { kind: string; status: string; n: number }[];
  ready: number;
  oldestReadyS: number;
  runners: number;
}

const QUEUE_SQL = `SELECT
  (SELECT coalesce(json_agg(json_build_object('kind', kind, 'status', status, 'n', n)), '[]'::json)
     FROM (SELECT kind, lower(status::text) AS status, count(*)::int AS n FROM background_jobs
           WHERE status IN ('QUEUED', 'RUNNING') GROUP BY 1, 2) s) AS pending,
  (SELECT count(*)::int FROM graphile_worker._private_jobs WHERE is_available AND run_at <= now()) AS ready,
  (SELECT coalesce(extract(epoch FROM now() - min(run_at)), 0)::float8
     FROM graphile_worker._private_jobs WHERE is_available AND run_at <= now()) AS "oldestReadyS",
  (SELECT count(*)::int FROM job_workers
     WHERE last_seen_at > now() - $1::int * interval '1 second') AS runners`;

/** Registers the queue gauges on `registry`; one query per scrape, on `pool`. */
export function registerJobQueueMetrics(registry: client.Registry, pool: pg.Pool): void {
  let pending: Promise<QueueFigures | null> | null = null;
  const figures = () => {
    pending ??= pool
      .query<QueueFigures>(QUEUE_SQL, [LIVE_RUNNER_WINDOW_S])
      .then((r) => r.rows[0] ?? null)
      // Unreachable database: no queue series this scrape (postline_ready says why).
      .catch(() => null)
      .finally(() => setTimeout(() => (pending = null), 0));
    return pending;
  };
  new client.Gauge({
    name: 'postline_jobs_pending',
    help: 'Tracked jobs queued (including retries waiting for their backoff) or running, by kind',
    labelNames: ['kind', 'status'] as const,
    registers: [registry],
    async collect() {
      const f = await figures();
      this.reset();
      if (!f) return;
      for (const kind of KINDS) {
        for (const status of ['queued', 'running']) this.set({ kind, status }, 0);
      }
      for (const row of f.pending) {
        const labels = { kind: kindLabel(row.kind), status: row.status };
        this.inc(labels, row.n);
      }
    },
  });
  const gauge = (name: string, help: string, pick: (f: QueueFigures) => number) =>
    new client.Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const f = await figures();
        this.reset();
        if (f) this.set(pick(f));
      },
    });
  gauge(
    'postline_job_queue_ready',
    'Queue entries that could start now (due, not locked, attempts left)',
    (f) => f.ready,
  );
  gauge(
    'postline_job_queue_oldest_ready_seconds',
    'How long the oldest queue entry that could start has been waiting (0 when none)',
    (f) => f.oldestReadyS,
  );
  gauge(
    'postline_job_runners',
    `Job runners (inline or npm run worker) whose heartbeat is at most ${LIVE_RUNNER_WINDOW_S} s old`,
    (f) => f.runners,
  );
}
