/** Process entry: config, database, migrations, demo data, HTTP server, graceful shutdown. */
import { createApp, metricsResponse } from './app.ts';
import { TokenService } from './auth/tokens.ts';
import { ConfigError, loadConfigOrExit } from './config.ts';
import { locateDatabase } from './db/database.ts';
import { applyMigrations } from './db/migrations.ts';
import { connectionDemands, createPool, verifyConnectionBudget } from './db/pool.ts';
import { requireSessionConnection, resolvePreparedStatements } from './db/pooler.ts';
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
  const sessionVariable = config.sessionDatabaseUrl ? 'DATABASE_SESSION_URL' : 'DATABASE_URL';
  try {
    await requireSessionConnection(
      sessionUrl,
      sessionVariable,
      config.jobs.mode === 'inline'
        ? 'the API (migrations, inline job runner)'
        : 'the API (migrations)',
    );
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

  // Same URL as the session one, just checked: no transaction pooler, no need to probe again.
  const prepared =
    config.preparedStatements === 'auto' && db.url === sessionUrl
      ? { on: true, reason: 'no transaction pooler detected' }
      : await resolvePreparedStatements(config.preparedStatements, db.url);
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
  const server = createHttpServer(app.drain.handler(nodeHandler(app)));
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
    // 1. /ready answers 503 while requests are still served, so the load balancer's health
    // check takes this instance out before its listener closes; responses say `connection: close`.
    app.drain.start();
    logger.info({ signal, drainMs: config.shutdownDrainMs }, 'draining: /ready answers 503');
    if (config.shutdownDrainMs > 0) {
      await new Promise((r) => setTimeout(r, config.shutdownDrainMs));
    }
    // 2. No new connections; idle kept-alive ones close; subscription streams complete.
    logger.info('shutting down: no new connections, finishing in-flight requests');
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    app.drain.endStreams();
    metricsServer?.close();
    // 3. In-flight requests get SHUTDOWN_TIMEOUT_MS to finish; connections still open then are cut.
    const force = setTimeout(() => {
      logger.warn('shutdown timeout reached; closing remaining connections');
      server.closeAllConnections();
    }, config.shutdownTimeoutMs);
    force.unref();
    // A connection whose last response has gone out is idle: close it rather than wait for it.
    const sweep = setInterval(() => server.closeIdleConnections(), 100);
    await closed;
    clearInterval(sweep);
    clearTimeout(force);
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
