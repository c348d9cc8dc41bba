/**
 * `systemStatus`: operational state for ADMINs. `SystemStatus` is exported so other features
 * add their own section from their own file, e.g.
 *   builder.objectField(SystemStatus, 'cache', (t) => t.field({ type: CacheStatus, resolve: ... }))
 */
import type pg from 'pg';
import { requireRole } from '../auth/rules.ts';
import { builder } from '../builder.ts';
import { migrationStatus } from '../db/migrations.ts';
import { type PoolStats, PostlinePool } from '../db/pool.ts';

/** The root value of `systemStatus`; sections read what they need from the context. */
export interface SystemStatusRoot {
  checkedAt: Date;
}

type PoolStatus = Omit<PoolStats, 'closedByReason'> & {
  closedIdle: number;
  closedLifetime: number;
  closedError: number;
};

interface DatabaseStatus {
  pool: PoolStatus;
  reachable: boolean;
  migrationsApplied: boolean | null;
  pendingMigrations: string[];
}

const PoolStatusRef = builder.objectRef<PoolStatus>('DatabasePoolStatus');
PoolStatusRef.implement({
  description: 'The API connection pool (DB_POOL_* settings). Waits cover the last 1024 requests.',
  fields: (t) => ({
    size: t.exposeInt('size', { description: 'Open connections (idle + in use).' }),
    min: t.exposeInt('min', { description: 'Connections kept open (DB_POOL_SIZE).' }),
    max: t.exposeInt('max', { description: 'DB_POOL_SIZE + DB_POOL_MAX_OVERFLOW.' }),
    idle: t.exposeInt('idle', { description: 'Open connections not in use.' }),
    inUse: t.exposeInt('inUse', { description: 'Connections handed to requests right now.' }),
    waiting: t.exposeInt('waiting', { description: 'Requests queued for a connection.' }),
    utilization: t.exposeFloat('utilization', { description: 'inUse / max, 0 to 1.' }),
    acquireWaitP50Ms: t.exposeFloat('acquireWaitP50Ms', {
      description: 'Median wait for a connection, in ms; 0 before the first.',
    }),
    acquireWaitP99Ms: t.exposeFloat('acquireWaitP99Ms', {
      description: '99th-percentile wait for a connection, in ms; 0 before the first.',
    }),
    acquired: t.exposeInt('acquired', { description: 'Connections handed out since start.' }),
    acquireTimeouts: t.exposeInt('acquireTimeouts', {
      description: 'Requests that got no connection within DB_POOL_ACQUIRE_TIMEOUT_MS.',
    }),
    opened: t.exposeInt('opened', { description: 'Connections opened since start.' }),
    closed: t.exposeInt('closed', {
      description: 'Connections closed since start, for any reason.',
    }),
    closedIdle: t.exposeInt('closedIdle', { description: 'Closed by idle trimming or shutdown.' }),
    closedLifetime: t.exposeInt('closedLifetime', {
      description: 'Recycled after DB_POOL_MAX_LIFETIME_S.',
    }),
    closedError: t.exposeInt('closedError', { description: 'Closed because they broke.' }),
    errored: t.exposeInt('errored', {
      description: 'Connections that failed to open, broke while open, or failed the pre-ping.',
    }),
    prePings: t.exposeInt('prePings', {
      description:
        '`SELECT 1` checks of a connection idle for over a second, before handing it out.',
    }),
    prePingFailures: t.exposeInt('prePingFailures', {
      description: 'Pre-pings that failed; the connection was discarded and another taken.',
    }),
  }),
});

const DatabaseStatusRef = builder.objectRef<DatabaseStatus>('DatabaseStatus');
DatabaseStatusRef.implement({
  description: 'The database as this process sees it.',
  fields: (t) => ({
    pool: t.field({
      type: PoolStatusRef,
      description: "This process's connection pool.",
      resolve: (d) => d.pool,
    }),
    reachable: t.exposeBoolean('reachable', {
      description: 'Whether the migration status could be read just now.',
    }),
    migrationsApplied: t.boolean({
      nullable: true,
      description: 'Null when the database is unreachable.',
      resolve: (d) => d.migrationsApplied,
    }),
    pendingMigrations: t.exposeStringList('pendingMigrations', {
      description: 'Names of migrations not yet applied; empty when up to date or unreachable.',
    }),
  }),
});

export const SystemStatus = builder.objectRef<SystemStatusRoot>('SystemStatus');
SystemStatus.implement({
  description: 'Operational state of this Postline process. ADMIN only.',
  fields: (t) => ({
    checkedAt: t.field({
      type: 'DateTime',
      description: 'When this status was read.',
      resolve: (s) => s.checkedAt,
    }),
    database: t.field({
      type: DatabaseStatusRef,
      description: 'Reachability, migrations and the connection pool.',
      resolve: async (_s, _args, ctx): Promise<DatabaseStatus> => {
        let reachable = false;
        let migrationsApplied: boolean | null = null;
        let pendingMigrations: string[] = [];
        try {
          const status = await migrationStatus(ctx.pool);
          reachable = true;
          migrationsApplied = status.applied;
          pendingMigrations = status.pending;
        } catch {
          // reported as reachable: false
        }
        return { pool: poolStatus(ctx.pool), reachable, migrationsApplied, pendingMigrations };
      },
    }),
  }),
});

function poolStatus(pool: pg.Pool): PoolStatus {
  if (pool instanceof PostlinePool) {
    const { closedByReason, ...rest } = pool.stats();
    return {
      ...rest,
      closedIdle: closedByReason.idle,
      closedLifetime: closedByReason.lifetime,
      closedError: closedByReason.error,
    };
  }
  throw new Error('systemStatus needs the PostlinePool');
}

builder.queryField('systemStatus', (t) =>
  t.field({
    type: SystemStatus,
    description:
      'Pool, database and other operational state of the process that answers. ADMIN only (FORBIDDEN otherwise).',
    resolve: (_root, _args, ctx) => {
      requireRole(ctx, ['ADMIN'], 'view the system status');
      return { checkedAt: new Date() };
    },
  }),
);
