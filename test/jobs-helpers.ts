/** Helpers for the background-job tests: an inline runner, polling a job through GraphQL. */
import { afterAll } from 'vitest';
import { type JobRunner, startJobRunner } from '../src/jobs/runner.ts';
import type { TestApp } from './harness.ts';

/** Test-speed settings: tiny backoff, fast polling and heartbeats. */
export const FAST_JOBS_ENV = {
  JOB_BACKOFF_BASE_MS: '50',
  JOB_BACKOFF_MAX_MS: '200',
  WORKER_POLL_INTERVAL_MS: '50',
  WORKER_HEARTBEAT_MS: '100',
  WORKER_STALE_MS: '600',
  WORKER_CONCURRENCY: '3',
  ANALYTICS_DEBOUNCE_MS: '60000',
};

export async function useRunner(t: TestApp): Promise<JobRunner> {
  const runner = await startJobRunner(t.app.services, { databaseUrl: t.url, cron: false });
  afterAll(() => runner.stop(5000));
  return runner;
}

export const JOB_FIELDS =
  'id kind status progress attempts maxAttempts lastError result startedBy { email } createdAt startedAt finishedAt';

export interface JobView {
  id: string;
  kind: string;
  status: string;
  progress: number;
  attempts: number;
  maxAttempts: number;
  lastError: string | null;
  result: string | null;
  startedBy: { email: string } | null;
}

/** Polls `node(id:)` until the job is in one of `statuses` (default: finished). */
export async function waitForJob(
  t: TestApp,
  id: string,
  statuses = ['SUCCEEDED', 'FAILED', 'CANCELLED'],
  timeoutMs = 30_000,
  as = 'admin@postline.dev',
): Promise<JobView> {
  const deadline = Date.now() + timeoutMs;
  let last: JobView | null = null;
  while (Date.now() < deadline) {
    const res = await t.gql(
      `query($id: ID!) { node(id: $id) { ... on BackgroundJob { ${JOB_FIELDS} } } }`,
      { id },
      { as },
    );
    last = res.data?.node as JobView | null;
    if (last && statuses.includes(last.status)) return last;
    await new Promise((r) => setTimeout(r, 40));
  }
  throw new Error(`job ${id} not ${statuses.join('/')} in time; last seen ${JSON.stringify(last)}`);
}
