/**
 * Turns a Postline task definition into a graphile-worker task that keeps `background_jobs`
 * up to date: RUNNING with the attempt number when it starts, progress while it runs,
 * SUCCEEDED with its result, or another attempt after an exponential backoff, or FAILED with
 * the last error once the attempts are used up. Delivery is at least once: tasks must be safe
 * to run twice, and a copy of a job that is no longer current does nothing.
 */
import type { JobHelpers, Task } from 'graphile-worker';
import type pg from 'pg';
import type { z } from 'zod';
import { announceWrites } from '../cache/writes.ts';
import type { Services } from '../context.ts';
import { recordJobAttempt } from './metrics.ts';
import { type BackgroundJobRow, pgSql, requeueAfterFailure } from './queue.ts';

export interface TaskContext {
  services: Services;
  job: BackgroundJobRow;
  helpers: JobHelpers;
  /** Records progress (0..100). */
  progress(percent: number): Promise<void>;
  /** Throws `JobCancelled` if the job was cancelled or superseded; call between batches. */
  checkpoint(): Promise<void>;
}

export interface TaskDefinition<P> {
  kind: string;
  payload: z.ZodType<P>;
  /** Untracked runs (cron, debounced) carry the payload itself instead of `{ id }`. */
  untracked?: boolean;
  run(payload: P, ctx: TaskContext): Promise<unknown>;
}

export class JobCancelled extends Error {
  override name = 'JobCancelled';
}

/** A task error that no retry can fix (bad payload, missing row): fail at once. */
export class PermanentJobError extends Error {
  override name = 'PermanentJobError';
}

export interface RunnerSettings {
  backoffBaseMs: number;
  backoffMaxMs: number;
}

/** Delay before attempt `attempt + 1`: base x 2^(attempt-1), capped. */
export function backoffMs(settings: RunnerSettings, attempt: number): number {
  return Math.min(settings.backoffBaseMs * 2 ** Math.max(0, attempt - 1), settings.backoffMaxMs);
}

function errorText(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return (message || 'Task failed without a message').slice(0, 2000);
}

export function defineTask<P>(def: TaskDefinition<P>): TaskDefinition<P> {
  return def;
}

export function toWorkerTask<P>(
  def: TaskDefinition<P>,
  services: Services,
  pool: pg.Pool,
  settings: RunnerSettings,
): Task {
  const sql = pgSql(pool);
  const announce = (job: BackgroundJobRow) =>
    announceWrites(services, [{ typename: 'BackgroundJob', id: job.id, states: [] }]).catch((err) =>
      services.logger.warn({ err, jobId: job.id }, 'cache announcement failed'),
    );

  return async (raw, helpers) => {
    const id = (raw as { id?: unknown } | null)?.id;
    if (typeof id !== 'number') {
      if (!def.untracked) throw new Error(`${def.kind}: payload has no job id`);
      const payload = def.payload.parse(raw ?? {});
      const noop = async () => {};
      const started = performance.now();
      try {
        await def.run(payload, {
          services,
          job: { id: 0, kind: def.kind, client_id: null } as BackgroundJobRow,
          helpers,
          progress: noop,
          checkpoint: noop,
        });
      } catch (err) {
        // graphile-worker retries untracked runs itself.
        recordJobAttempt(def.kind, 'retry', (performance.now() - started) / 1000);
        throw err;
      }
      recordJobAttempt(def.kind, 'succeeded', (performance.now() - started) / 1000);
      return;
    }
    const workerJobId = helpers.job.id;
    // Claim: only the current copy of a job still queued (or left RUNNING by a crash) runs.
    const [job] = await sql<BackgroundJobRow>(
      `UPDATE background_jobs SET status = 'RUNNING', attempts = attempts + 1,
         started_at = coalesce(started_at, now()), updated_at = now()
       WHERE id = $1 AND worker_job_id = $2 AND status IN ('QUEUED', 'RUNNING') RETURNING *`,
      [id, workerJobId],
    );
    if (!job) return;
    void announce(job);
    const log = services.logger.child({ jobId: id, kind: def.kind, attempt: job.attempts });
    let started: number | null = null;
    const elapsed = () => (started === null ? null : (performance.now() - started) / 1000);
    const fail = async (message: string) => {
      recordJobAttempt(def.kind, 'failed', elapsed());
      await sql(
        `UPDATE background_jobs SET status = 'FAILED', last_error = $3, finished_at = now(),
           updated_at = now() WHERE id = $1 AND worker_job_id = $2 AND status = 'RUNNING'`,
        [id, workerJobId, message],
      );
      log.warn({ error: message }, 'job failed for good');
      void announce(job);
    };
    if (job.attempts > job.max_attempts) {
      await fail(job.last_error ?? 'Gave up: the worker running it stopped too many times');
      return;
    }
    const parsed = def.payload.safeParse(job.payload);
    if (!parsed.success) {
      await fail(`Invalid payload: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
      return;
    }
    const current = async () => {
      const [row] = await sql<{ ok: boolean }>(
        `SELECT (status = 'RUNNING' AND worker_job_id = $2) AS ok FROM background_jobs WHERE id = $1`,
        [id, workerJobId],
      );
      return row?.ok === true;
    };
    const ctx: TaskContext = {
      services,
      job,
      helpers,
      async progress(percent) {
        await sql(
          `UPDATE background_jobs SET progress = $3, updated_at = now()
           WHERE id = $1 AND worker_job_id = $2 AND status = 'RUNNING'`,
          [id, workerJobId, Math.max(0, Math.min(100, Math.floor(percent)))],
        );
        void announce(job);
      },
      async checkpoint() {
        if (!(await current())) throw new JobCancelled();
      },
    };
    let result: unknown;
    started = performance.now();
    try {
      result = await def.run(parsed.data, ctx);
    } catch (err) {
      if (err instanceof JobCancelled) {
        recordJobAttempt(def.kind, 'cancelled', elapsed());
        log.info('job stopped: cancelled or superseded');
        return;
      }
      const message = errorText(err);
      if (err instanceof PermanentJobError || job.attempts >= job.max_attempts) {
        await fail(message);
        return;
      }
      const delay = backoffMs(settings, job.attempts);
      recordJobAttempt(def.kind, 'retry', elapsed());
      log.warn({ error: message, retryInMs: delay }, 'job attempt failed; will retry');
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        // Only the current copy reschedules; a stale one just stops.
        const { rowCount } = await client.query(
          `SELECT 1 FROM background_jobs WHERE id = $1 AND worker_job_id = $2 AND status = 'RUNNING' FOR UPDATE`,
          [id, workerJobId],
        );
        if (rowCount) await requeueAfterFailure(pgSql(client), id, def.kind, message, delay);
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK').catch(() => {});
        throw e;
      } finally {
        client.release();
      }
      void announce(job);
      return;
    }
    recordJobAttempt(def.kind, 'succeeded', elapsed());
    await sql(
      `UPDATE background_jobs SET status = 'SUCCEEDED', progress = 100, result = $3::jsonb,
         finished_at = now(), updated_at = now()
       WHERE id = $1 AND worker_job_id = $2 AND status = 'RUNNING'`,
      [id, workerJobId, JSON.stringify(result ?? null)],
    );
    log.info('job succeeded');
    void announce(job);
  };
}
