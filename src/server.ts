/** Process entry: config, database, migrations, demo data, HTTP server, graceful shutdown. */
import { createApp, metricsResponse } from './app.ts';
import { TokenService } from './auth/tokens.ts';
import { ConfigError, loadConfigOrExit } from './config.ts';
import { locateDatabase } from './db/database.ts';
import { applyMigrations } from './db/migrations.ts';
import { connectionDemands, createPool, verifyConnectionBudget } from './db/pool.ts';
import { resolvePreparedStatements } from './db/pooler.ts';
import { createPrisma } from './db/prisma.ts';
import { DEMO_PASSWORD, DEMO_USERS, seedIfEmpty } from './db/seed.ts';
import { usePreparedStatements } from './db/statements.ts';
import { createHttpServer, nodeHandler } from './http-server.ts';
import { installWorkerSchema, startJobRunner } from './jobs/runner.ts';
import { checkStorageOrExit } from './jobs/storage.ts';
import { createLogger } from './observability/logger.ts';
import { setCursorSecret } from './read/keyset.ts';

async function main() {
  const config = loadConfigOrExit();
  const logger = createLogger(config.logLevel);
  if (config.production && !config.jobs.smtpUrl) {
    logger.warn(
      { mailDir: config.jobs.mailDir },
      'SMTP_URL is not set: notification e-mails are written to MAIL_DIR instead of being sent',
    );
  }
  await checkStorageOrExit(config.storage);
  const db = await locateDatabase(config, (line) => logger.debug({ postgres: line }));
  if (db.embedded) logger.info('embedded PostgreSQL started (data in %s)', config.dataDir);

  // DATABASE_URL may lead through a transaction-mode pooler; session features use this one.
  const sessionUrl = config.sessionDatabaseUrl ?? db.url;
  try {
    await verifyConnectionBudget(sessionUrl, connectionDemands(config));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      if (db.embedded) await db.embedded.stop().catch(() => {});
      process.exit(78);
    }
    throw err;
  }

  const applied = await applyMigrations(sessionUrl);
  if (applied.length) logger.info({ applied }, 'migrations applied');
  // graphile-worker's schema: mutations enqueue jobs even when the runners are separate.
  await installWorkerSchema(sessionUrl);

  const prepared = await resolvePreparedStatements(config.preparedStatements, db.url);
  usePreparedStatements(prepared.on);
  logger.info(
    { reason: prepared.reason },
    `named prepared statements ${prepared.on ? 'on' : 'off'}`,
  );
  const pool = createPool(db.url, config.pool, logger);
  await pool.warm();
  const prisma = createPrisma(pool);
  if (db.embedded && config.seedOnStart) {
    const seeded = await seedIfEmpty(pool, { posts: config.seedPosts, log: (m) => logger.info(m) });
    if (seeded) logger.info('demo data seeded');
  }

  setCursorSecret(config.jwtSecret);
  const tokens = new TokenService(config.jwtSecret, config.jwtTtlS);
  const app = createApp({ config, pool, prisma, tokens, logger });
  await app.cache?.listen(sessionUrl, pool);
  if (app.cache) logger.info({ store: app.cache.store.kind }, 'response cache on');
  const jobs =
    config.jobs.mode === 'inline'
      ? await startJobRunner(app.services, { databaseUrl: sessionUrl })
      : null;
  const server = createHttpServer(nodeHandler(app));
  await new Promise<void>((resolve) => server.listen(config.port, config.host, resolve));
  // /metrics on a port of its own (METRICS_PORT), e.g. reachable from the monitoring network only.
  const metricsServer = config.metrics.port
    ? createHttpServer(async (req, res) => {
        const response =
          req.url === '/metrics'
            ? await metricsResponse(app.metrics, Response)
            : new Response('Not found', { status: 404 });
        res.writeHead(response.status, Object.fromEntries(response.headers));
        res.end(await response.text());
      })
    : null;
  if (metricsServer) {
    await new Promise<void>((resolve) =>
      metricsServer.listen(config.metrics.port as number, config.host, resolve),
    );
    logger.info({ port: config.metrics.port }, 'metrics served on their own port');
  } else if (config.production && !config.metrics.token) {
    logger.warn('/metrics is refused: set METRICS_TOKEN (or METRICS_PORT) for Prometheus');
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://localhost:${port}/graphql`;
  logger.info({ url }, 'Postline is listening');
  if (!config.production) {
    process.stdout.write(
      `\nPostline is ready: ${url}${config.graphiql ? ' (GraphiQL in the browser)' : ''}\n` +
        `Demo logins (password "${DEMO_PASSWORD}"): ${DEMO_USERS.map((u) => u.email).join(', ')}\n\n`,
    );
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: no new connections, finishing in-flight requests');
    const force = setTimeout(() => {
      logger.warn('shutdown timeout reached; closing remaining connections');
      server.closeAllConnections();
    }, config.shutdownTimeoutMs);
    force.unref();
    server.closeIdleConnections();
    metricsServer?.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    // Stop taking jobs; running ones get the rest of the shutdown timeout to finish.
    await jobs?.stop(config.shutdownTimeoutMs);
    app.metrics.stop();
    await app.cache?.close().catch(() => {});
    await app.services.auth?.close().catch(() => {});
    await app.persisted.close().catch(() => {});
    await app.profiling.stop().catch(() => {});
    await prisma.$disconnect().catch(() => {});
    await pool.end().catch(() => {});
    if (db.embedded) await db.embedded.stop().catch(() => {});
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`Postline failed to start: ${err instanceof Error ? err.stack : err}\n`);
  process.exit(1);
});
