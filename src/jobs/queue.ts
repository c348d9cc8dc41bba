/**
 * Enqueueing, retrying and cancelling jobs. Every function takes a `Sql` runner so it can run
 * inside the caller's transaction (a Prisma interactive transaction in mutations, a pg client
 * in the worker): a rolled-back write leaves no job; a committed one always has its job.
 *
 * A Postline job is a row in `background_jobs` (status, attempts, result) plus a
 * graphile-worker job whose payload is only `{ id }` and whose key is `bg:<id>`. The row
 * remembers which graphile-worker job currently carries it (`worker_job_id`); any other copy
 * (left by a crash or a retry) is stale and does nothing when it runs.
 */
import type { Prisma } from '../db/prisma.ts';

/** Runs one SQL statement with positional parameters and returns its rows. */
export type Sql = <R = Record<string, unknown>>(text: string, params?: unknown[]) => Promise<R[]>;

/** A Prisma client or interactive transaction as a `Sql` runner. */
export const prismaSql =
  (tx: Pick<Prisma.TransactionClient, '$queryRawUnsafe'>): Sql =>
  (text, params = []) =>
    tx.$queryRawUnsafe(text, ...params);

/** A pg client or pool as a `Sql` runner. */
export const pgSql =
  (client: { query: (text: string, params?: unknown[]) => Promise<{ rows: unknown[] }> }): Sql =>
  async <R>(text: string, params: unknown[] = []) =>
    (await client.query(text, params)).rows as R[];

/** Tracked job kinds and how often each may be attempted. */
export const JOB_KINDS = {
  generatePosts: { maxAttempts: 5 },
  processUpload: { maxAttempts: 5 },
  sendEmail: { maxAttempts: 8 },
  computeAnalytics: { maxAttempts: 3 },
  noop: { maxAttempts: 3 },
} as const;
export type JobKind = keyof typeof JOB_KINDS;

/** graphile-worker's own retries only cover failures of the tracking code itself. */
const WORKER_MAX_ATTEMPTS = 25;

export interface BackgroundJobRow {
  id: number;
  kind: string;
  status: 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
  progress: number;
  attempts: number;
  max_attempts: number;
  last_error: string | null;
  payload: unknown;
  result: unknown;
  started_by_id: number | null;
  client_id: number | null;
}

export interface EnqueueSpec {
  kind: JobKind;
  payload: Record<string, unknown>;
  startedById?: number | null;
  clientId?: number | null;
  maxAttempts?: number;
}

/** Hands job `id` to graphile-worker (now, or after `delayMs`) and records which job carries it. */
async function dispatch(sql: Sql, id: number, kind: string, delayMs = 0): Promise<void> {
  await sql(
    `UPDATE background_jobs SET worker_job_id = (
       SELECT (j).id FROM (SELECT graphile_worker.add_job($2::text, json_build_object('id', $1::int4),
         run_at := now() + ($3::int8 * interval '1 millisecond'),
         max_attempts := ${WORKER_MAX_ATTEMPTS}, job_key := 'bg:' || $1::int4) AS j) s)
     WHERE id = $1::int4`,
    [id, kind, delayMs],
  );
}

/** Records a job and queues it, in the caller's transaction. Returns the job's id. */
export async function enqueueJob(sql: Sql, spec: EnqueueSpec): Promise<number> {
  const rows = await sql<{ id: number }>(
    `INSERT INTO background_jobs (kind, max_attempts, payload, started_by_id, client_id)
     VALUES ($1, $2::int4, $3::jsonb, $4::int4, $5::int4) RETURNING id`,
    [
      spec.kind,
      spec.maxAttempts ?? JOB_KINDS[spec.kind].maxAttempts,
      JSON.stringify(spec.payload),
      spec.startedById ?? null,
      spec.clientId ?? null,
    ],
  );
  const id = (rows[0] as { id: number }).id;
  await dispatch(sql, id, spec.kind);
  return id;
}

/** Puts a job back in the queue for another attempt after `delayMs` (used by the runner). */
export async function requeueAfterFailure(
  sql: Sql,
  id: number,
  kind: string,
  error: string,
  delayMs: number,
): Promise<void> {
  await sql(
    `UPDATE background_jobs SET status = 'QUEUED', last_error = $2, updated_at = now()
     WHERE id = $1::int4`,
    [id, error],
  );
  await dispatch(sql, id, kind, delayMs);
}

/** FAILED or CANCELLED -> QUEUED with a fresh attempt budget. Returns false if not allowed. */
export async function retryJob(sql: Sql, id: number): Promise<boolean> {
  const rows = await sql<{ kind: string }>(
    `UPDATE background_jobs SET status = 'QUEUED', attempts = 0, progress = 0, result = NULL,
       finished_at = NULL, updated_at = now()
     WHERE id = $1::int4 AND status IN ('FAILED', 'CANCELLED') RETURNING kind`,
    [id],
  );
  const row = rows[0];
  if (!row) return false;
  await dispatch(sql, id, row.kind);
  return true;
}

/**
 * QUEUED or RUNNING -> CANCELLED. A queued job is removed from the queue; a running one
 * stops at its next checkpoint (tasks check between batches). Returns false if not allowed.
 */
export async function cancelJob(sql: Sql, id: number): Promise<boolean> {
  const rows = await sql<{ id: number }>(
    `UPDATE background_jobs SET status = 'CANCELLED', finished_at = now(), updated_at = now()
     WHERE id = $1::int4 AND status IN ('QUEUED', 'RUNNING') RETURNING id`,
    [id],
  );
  if (!rows[0]) return false;
  // Deletes the queued job; a locked (running) one is left to notice the cancellation.
  await sql(`SELECT 1 AS ok FROM graphile_worker.remove_job('bg:' || $1::int4) j`, [id]);
  return true;
}

/**
 * Schedules an untracked analytics recomputation `debounceMs` from now. The fixed job key
 * makes a burst of writes collapse into one run after the burst.
 */
export async function scheduleAnalytics(sql: Sql, debounceMs: number): Promise<void> {
  await sql(
    `SELECT 1 AS ok FROM graphile_worker.add_job('computeAnalytics', '{}'::json,
       run_at := now() + ($1::int8 * interval '1 millisecond'), max_attempts := 3,
       job_key := 'analytics:debounced', job_key_mode := 'replace') j`,
    [debounceMs],
  );
}
