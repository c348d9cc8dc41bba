/** Prometheus series for the API's database pool (see README.md, "Database connection pool"). */
import type pg from 'pg';
import client from 'prom-client';
import { PostlinePool } from '../db/pool.ts';

/** Registers the pool series on `registry`; returns a function that stops observing. */
export function registerPoolMetrics(registry: client.Registry, pool: pg.Pool): () => void {
  new client.Gauge({
    name: 'postline_db_pool_connections',
    help: 'Connections in the API pool by state (total = open connections; waiting = requests queued)',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      this.set({ state: 'total' }, pool.totalCount);
      this.set({ state: 'idle' }, pool.idleCount);
      this.set({ state: 'in_use' }, pool.totalCount - pool.idleCount);
      this.set({ state: 'waiting' }, pool.waitingCount);
    },
  });
  if (!(pool instanceof PostlinePool)) return () => {};

  new client.Gauge({
    name: 'postline_db_pool_max_connections',
    help: 'Most connections the API pool may open (DB_POOL_SIZE + DB_POOL_MAX_OVERFLOW)',
    registers: [registry],
    collect() {
      this.set(pool.stats().max);
    },
  });
  new client.Gauge({
    name: 'postline_db_pool_min_connections',
    help: 'Connections the API pool keeps open (DB_POOL_SIZE)',
    registers: [registry],
    collect() {
      this.set(pool.stats().min);
    },
  });
  new client.Gauge({
    name: 'postline_db_pool_utilization_ratio',
    help: 'Connections in use divided by the pool maximum (0..1)',
    registers: [registry],
    collect() {
      this.set(pool.stats().utilization);
    },
  });
  const cumulative = (name: string, help: string, read: () => number) =>
    new client.Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  cumulative(
    'postline_db_pool_connections_opened_total',
    'Connections opened by the API pool',
    () => pool.stats().opened,
  );
  new client.Counter({
    name: 'postline_db_pool_connections_closed_total',
    help: 'Connections closed by the API pool, by reason (idle trim/shutdown, lifetime, error)',
    labelNames: ['reason'] as const,
    registers: [registry],
    collect() {
      const { closedByReason } = pool.stats();
      this.reset();
      for (const [reason, n] of Object.entries(closedByReason)) this.inc({ reason }, n);
    },
  });
  cumulative(
    'postline_db_pool_connections_errored_total',
    'Connections that failed to open, broke while open, or failed the pre-ping',
    () => pool.stats().errored,
  );
  cumulative(
    'postline_db_pool_acquire_timeouts_total',
    'Requests that got no connection within DB_POOL_ACQUIRE_TIMEOUT_MS',
    () => pool.stats().acquireTimeouts,
  );
  new client.Counter({
    name: 'postline_db_pool_pre_pings_total',
    help: 'Pre-use checks (SELECT 1) of connections idle longer than DB_POOL_PRE_PING_IDLE_MS',
    labelNames: ['outcome'] as const,
    registers: [registry],
    collect() {
      const { prePings, prePingFailures } = pool.stats();
      this.reset();
      this.inc({ outcome: 'ok' }, prePings - prePingFailures);
      this.inc({ outcome: 'failed' }, prePingFailures);
    },
  });
  const acquireWait = new client.Histogram({
    name: 'postline_db_pool_acquire_wait_seconds',
    help: 'Time from asking the pool for a connection to getting one (or timing out)',
    buckets: [
      0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
    ],
    registers: [registry],
  });
  return pool.onAcquireWait((ms) => acquireWait.observe(ms / 1000));
}
