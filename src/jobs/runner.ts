/**
 * The job runner: graphile-worker with Postline's tasks, on its own pg pool. Runs inside the
 * API process (`WORKER_MODE=inline`) or as any number of `npm run worker` processes.
 *
 * Crashed workers: graphile-worker keeps a dead worker's jobs locked for 4 hours. Each runner
 * records itself in `job_workers` and refreshes the row every WORKER_HEARTBEAT_MS; at start and
 * on every heartbeat it releases the locks of runners silent for WORKER_STALE_MS (and of
 * unknown runners whose locks are that old), so their jobs run again within seconds.
 */
import os from 'node:os';
import {
  Logger,
  type Runner,
  run,
  runMigrations,
  type TaskList,
  type WorkerPool,
} from 'graphile-worker';
import type { Services } from '../context.ts';
import { createPool } from '../db/pool.ts';
import { createPrisma } from '../db/prisma.ts';
import { preparedStatementsOn } from '../db/statements.ts';
import type { Logger as AppLogger } from '../observability/logger.ts';
import { pgSql } from './queue.ts';
import { type TaskDefinition, toWorkerTask } from './task.ts';
import computeAnalytics from './tasks/computeAnalytics.ts';
import generatePosts from './tasks/generatePosts.ts';
import noop from './tasks/noop.ts';
import processUpload from './tasks/processUpload.ts';
import sendEmail from './tasks/sendEmail.ts';

// biome-ignore lint/suspicious/noExplicitAny: payload types differ per task
export const TASKS: TaskDefinition<any>[] = [
  generatePosts,
  processUpload,
  sendEmail,
  computeAnalytics,
  noop,
];

/** graphile-worker log lines go to the app's logger (its debug chatter at debug level). */
export function workerLogger(logger: AppLogger): Logger {
  return new Logger((scope) => (level, message, meta) => {
    const fields = {
      scope: { label: scope.label, workerId: scope.workerId, jobId: scope.jobId },
      ...((meta as object) ?? {}),
    };
    if (level === 'error') logger.error(fields, message);
    else if (level === 'warning') logger.warn(fields, message);
    else if (level === 'info') logger.debug(fields, message);
    else logger.trace(fields, message);
  });
}

/** Installs or upgrades graphile-worker's own schema (`graphile_worker`). Idempotent. */
export async function installWorkerSchema(databaseUrl: string): Promise<void> {
  await runMigrations({ connectionString: databaseUrl, logger: workerLogger(silentLogger) });
}

const silentLogger = {
  error() {},
  warn() {},
  info() {},
  debug() {},
  trace() {},
} as unknown as AppLogger;

export interface JobRunner {
  /** graphile-worker pool id (the `locked_by` of this runner's jobs). */
  readonly id: string;
  /** Stops taking jobs, waits for running ones up to `timeoutMs`, then releases them. */
  stop(timeoutMs?: number): Promise<void>;
}

export interface RunnerOptions {
  databaseUrl: string;
  /** Run the nightly analytics crontab (default true). */
  cron?: boolean;
}

/** Releases locks held by runners that stopped sending heartbeats. Returns their ids. */
export async function releaseDeadWorkers(
  sql: ReturnType<typeof pgSql>,
  staleMs: number,
): Promise<string[]> {
  const rows = await sql<{ id: string }>(
    `WITH locks AS (
       SELECT locked_by, locked_at FROM graphile_worker._private_jobs WHERE locked_by IS NOT NULL
       UNION ALL
       SELECT locked_by, locked_at FROM graphile_worker._private_job_queues WHERE locked_by IS NOT NULL)
     SELECT DISTINCT l.locked_by AS id FROM locks l LEFT JOIN job_workers w ON w.id = l.locked_by
     WHERE (w.id IS NULL AND l.locked_at < now() - $1::int8 * interval '1 millisecond')
        OR w.last_seen_at < now() - $1::int8 * interval '1 millisecond'`,
    [staleMs],
  );
  const ids = rows.map((r) => r.id);
  if (ids.length) {
    await sql('SELECT graphile_worker.force_unlock_workers($1::text[])', [ids]);
  }
  await sql(
    `DELETE FROM job_workers WHERE last_seen_at < now() - $1::int8 * interval '1 millisecond'`,
    [staleMs],
  );
  return ids;
}

export async function startJobRunner(base: Services, opts: RunnerOptions): Promise<JobRunner> {
  const { config } = base;
  const jobsConfig = config.jobs;
  const logger = base.logger.child({ component: 'jobs' });
  const pool = createPool(opts.databaseUrl, {
    ...config.pool,
    size: jobsConfig.poolSize,
    maxOverflow: 0,
    applicationName: `${config.pool.applicationName}-jobs`,
    // A batch may legitimately take a while; the queue's own statements are short.
    statementTimeoutMs: 0,
  });
  pool.on('error', (err) => logger.warn({ err }, 'job pool client error'));
  const services: Services = { ...base, pool, prisma: createPrisma(pool), logger };
  const sql = pgSql(pool);

  await installWorkerSchema(opts.databaseUrl);
  const released = await releaseDeadWorkers(sql, jobsConfig.staleMs);
  if (released.length) logger.warn({ released }, 'released jobs of stopped workers');

  const settings = {
    backoffBaseMs: jobsConfig.backoffBaseMs,
    backoffMaxMs: jobsConfig.backoffMaxMs,
  };
  const taskList: TaskList = {};
  for (const def of TASKS) taskList[def.kind] = toWorkerTask(def, services, pool, settings);

  let workerPool: WorkerPool | null = null;
  let runner: Runner;
  const { EventEmitter } = await import('node:events');
  const events = new EventEmitter();
  events.on('pool:create', ({ workerPool: wp }: { workerPool: WorkerPool }) => {
    workerPool = wp;
  });
  runner = await run({
    pgPool: pool,
    concurrency: jobsConfig.concurrency,
    pollInterval: jobsConfig.pollIntervalMs,
    noHandleSignals: true,
    noPreparedStatements: !preparedStatementsOn(),
    taskList,
    events: events as never,
    logger: workerLogger(logger),
    crontab:
      opts.cron === false
        ? ''
        : `${jobsConfig.analyticsCrontab} computeAnalytics ?id=analytics_nightly&max=3 {"scope":"nightly"}\n`,
    gracefulShutdownAbortTimeout: config.shutdownTimeoutMs,
  });
  const wp = workerPool as WorkerPool | null;
  if (!wp) throw new Error('graphile-worker did not report its pool');
  const id = wp.id;

  const beat = async () => {
    await sql(
      `INSERT INTO job_workers (id, hostname, pid) VALUES ($1, $2, $3)
       ON CONFLICT (id) DO UPDATE SET last_seen_at = now()`,
      [id, os.hostname().slice(0, 255), process.pid],
    );
    const dead = await releaseDeadWorkers(sql, jobsConfig.staleMs);
    if (dead.length) {
      logger.warn({ released: dead }, 'released jobs of stopped workers');
      wp.nudge(jobsConfig.concurrency);
    }
  };
  await beat();
  let beating = false;
  const timer = setInterval(() => {
    if (beating) return;
    beating = true;
    beat()
      .catch((err) => logger.warn({ err }, 'job runner heartbeat failed'))
      .finally(() => {
        beating = false;
      });
  }, jobsConfig.heartbeatMs);
  timer.unref();
  logger.info({ id, concurrency: jobsConfig.concurrency }, 'job runner started');

  let stopped: Promise<void> | null = null;
  return {
    id,
    stop(timeoutMs = config.shutdownTimeoutMs) {
      stopped ??= (async () => {
        clearInterval(timer);
        let timeout: NodeJS.Timeout | undefined;
        const graceful = runner.stop().then(
          () => true,
          () => true,
        );
        const timedOut = new Promise<boolean>((resolve) => {
          timeout = setTimeout(() => resolve(false), timeoutMs);
        });
        const finished = await Promise.race([graceful, timedOut]);
        clearTimeout(timeout);
        if (!finished) {
          logger.warn('jobs still running at shutdown timeout; releasing them for another worker');
          await runner.kill().catch(() => {});
        }
        await sql('DELETE FROM job_workers WHERE id = $1', [id]).catch(() => {});
        await pool.end().catch(() => {});
        logger.info('job runner stopped');
      })();
      return stopped;
    },
  };
}
