/**
 * `npm run worker`: a job runner process without the HTTP API (WORKER_MODE=separate on the
 * API side). Any number may run against one database. Needs DATABASE_URL and a migrated
 * database (start the API once, or `npm run db:migrate`).
 *
 * SIGTERM/SIGINT: stop taking jobs, let running ones finish within SHUTDOWN_TIMEOUT_MS, exit.
 */
import { TokenService } from '../auth/tokens.ts';
import { WriteNotifier } from '../cache/notifier.ts';
import { ConfigError, loadConfigOrExit } from '../config.ts';
import type { Services } from '../context.ts';
import { migrationStatus } from '../db/migrations.ts';
import { createPool } from '../db/pool.ts';
import { requireSessionConnection } from '../db/pooler.ts';
import { createPrisma } from '../db/prisma.ts';
import { usePreparedStatements } from '../db/statements.ts';
import { createLogger } from '../observability/logger.ts';
import { startJobRunner } from './runner.ts';
import { checkStorageOrExit } from './storage.ts';
import { serveWorkerMetrics } from './worker-metrics.ts';

async function main() {
  const config = loadConfigOrExit();
  if (!config.databaseUrl) {
    process.stderr.write('Invalid configuration:\n  DATABASE_URL: required for `npm run worker`\n');
    process.exit(78);
  }
  // The runner needs a session (LISTEN/NOTIFY, advisory locks): never a transaction pooler.
  const databaseUrl = config.sessionDatabaseUrl ?? config.databaseUrl;
  try {
    await requireSessionConnection(
      databaseUrl,
      config.sessionDatabaseUrl ? 'DATABASE_SESSION_URL' : 'DATABASE_URL',
      'the job worker',
    );
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(78);
  }
  usePreparedStatements(config.preparedStatements !== 'off');
  const logger = createLogger(config.logLevel).child({ process: 'worker' });
  await checkStorageOrExit(config.storage);
  // A small pool for the status check and cache broadcasts; the runner has its own.
  const pool = createPool(databaseUrl, { ...config.pool, size: 1, maxOverflow: 1 });
  const status = await migrationStatus(pool);
  if (!status.applied) {
    process.stderr.write(
      `The database has pending migrations (${status.pending.join(', ')}); start the API or run \`npm run db:migrate\` first\n`,
    );
    process.exit(1);
  }
  // Clears the shared Redis cache directly (if any) and notifies in-memory caches.
  const notifier = new WriteNotifier(config, pool, logger);
  const services: Services = {
    config,
    pool,
    prisma: createPrisma(pool),
    tokens: new TokenService(config.jwtSecret, config.jwtTtlS),
    logger,
    cache: notifier,
  };
  const runner = await startJobRunner(services, { databaseUrl });
  const metrics = config.jobs.metricsPort
    ? await serveWorkerMetrics(config.jobs.metricsPort, config.host)
    : null;
  process.stdout.write(`worker ${runner.id} ready\n`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'worker stopping: no new jobs, finishing running ones');
    await runner.stop(config.shutdownTimeoutMs);
    await metrics?.close();
    await pool.end().catch(() => {});
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`worker failed to start: ${err instanceof Error ? err.stack : err}\n`);
  process.exit(1);
});
