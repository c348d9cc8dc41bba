/**
 * The API's one pg.Pool, handed to Prisma's driver adapter. Postline owns it so that its
 * size, timeouts, lifetime and metrics are explicit. Every statement is timed.
 *
 * `PostlinePool` adds to pg.Pool what production needs (see README.md, "Database connection pool"):
 * - warm start: `warm()` opens the `min` (DB_POOL_SIZE) connections up front;
 * - pre-ping: a connection idle for longer than `prePingIdleMs` runs `SELECT 1` before it is
 *   handed out; a broken one is discarded and another (or a fresh one) is taken instead;
 * - acquire wait: time from `connect()` to grant, kept for percentiles and reported to listeners;
 * - counters: connections opened, closed (by reason), errored; acquire timeouts; pre-pings;
 * - warnings: a long acquire wait, or utilization above 90% for a sustained period (rate-limited);
 * - every client has an 'error' listener for its whole life, so a dropped connection can never
 *   surface as an unhandled 'error' event and crash the process;
 * - per-request share: a GraphQL request (its query log) holds at most `maxPerRequest`
 *   connections; its further checkouts wait for its own (request-connections.ts); once the
 *   operation timed out, its checkouts and statements are refused.
 */
import pg from 'pg';
import { ConfigError } from '../config.ts';
import { loopWaitMs, startLoopProbe } from './loop-wait.ts';
import { currentQueryLog, type QueryLog, recordStatement } from './query-log.ts';
import { DISCARDED, RequestConnections } from './request-connections.ts';

export interface PoolSettings {
  /** Connections kept open (warmed at start). */
  size: number;
  /** Extra connections opened under load, closed again after `idleTimeoutMs`. */
  maxOverflow: number;
  idleTimeoutMs: number;
  /** Every connection is closed and replaced after this many seconds (0: never). */
  maxLifetimeS: number;
  /** A request waits at most this long for a connection, then fails with SERVICE_UNAVAILABLE. */
  acquireTimeoutMs: number;
  statementTimeoutMs: number;
  applicationName: string;
  /** Connections idle for longer than this are checked with `SELECT 1` before use (0: always). */
  prePingIdleMs?: number;
  /** Log a warning when a request waited longer than this for a connection (0: never). */
  waitWarnMs?: number;
  /** Log a warning when utilization stays at or above 90% for this many seconds (0: never). */
  saturationWarnS?: number;
  /** Log pool events (connect, remove, client errors) at debug level. Off in production. */
  logEvents?: boolean;
  /** Connections one request may hold at once (default: the whole pool). */
  maxPerRequest?: number;
}

/** The subset of a pino logger the pool uses. */
export interface PoolLogger {
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface PoolStats {
  /** Open connections (idle + in use). */
  size: number;
  /** Connections kept warm (DB_POOL_SIZE). */
  min: number;
  /** Upper bound (DB_POOL_SIZE + DB_POOL_MAX_OVERFLOW). */
  max: number;
  idle: number;
  inUse: number;
  /** Requests waiting for a connection. */
  waiting: number;
  /** inUse / max, 0..1. */
  utilization: number;
  /** Percentiles over the last 1024 acquisitions (ms); 0 before the first. */
  acquireWaitP50Ms: number;
  acquireWaitP99Ms: number;
  acquired: number;
  acquireTimeouts: number;
  opened: number;
  closed: number;
  closedByReason: { idle: number; lifetime: number; error: number };
  /** Connections that failed: connect errors, broken connections, failed pre-pings. */
  errored: number;
  prePings: number;
  prePingFailures: number;
}

function queryText(arg: unknown): string {
  if (typeof arg === 'string') return arg;
  if (arg && typeof arg === 'object' && 'text' in arg)
    return String((arg as { text: unknown }).text);
  return '';
}

const ROLLBACK = /^\s*ROLLBACK\b/i;

/** A pg client that reports each statement's duration and row count to the request's query log. */
export class TimedClient extends pg.Client {
  // biome-ignore lint/suspicious/noExplicitAny: pg's overloaded query signature
  override query(...args: any[]): any {
    const sql = queryText(args[0]);
    // Submittables (cursors, COPY streams) are passed through untimed.
    if (args[0] && typeof args[0].submit === 'function') {
      // biome-ignore lint/suspicious/noExplicitAny: see above
      return (super.query as any)(...args);
    }
    const log: QueryLog | undefined = currentQueryLog();
    // The operation ran out of time: refuse its SQL at once, except a ROLLBACK that ends its
    // transaction (the connection is discarded afterwards anyway).
    if (log?.aborted && !ROLLBACK.test(sql)) {
      const err = log.aborted;
      const last = args.length - 1;
      if (typeof args[last] === 'function') {
        process.nextTick(args[last], err);
        return undefined;
      }
      return Promise.reject(err);
    }
    const started = performance.now();
    const finish = (err: Error | null, res?: pg.QueryResult) => {
      const now = performance.now();
      const record = {
        sql,
        durationMs: now - started,
        loopWaitMs: loopWaitMs(started, now),
        rows: res?.rowCount ?? res?.rows?.length ?? 0,
        ...(err ? { error: err.message } : {}),
      };
      recordStatement(log, record);
    };
    const last = args.length - 1;
    if (typeof args[last] === 'function') {
      const callback = args[last];
      args[last] = (err: Error | null, res: pg.QueryResult) => {
        finish(err, res);
        callback(err, res);
      };
      // biome-ignore lint/suspicious/noExplicitAny: see above
      return (super.query as any)(...args);
    }
    // biome-ignore lint/suspicious/noExplicitAny: see above
    const result = (super.query as any)(...args) as Promise<pg.QueryResult>;
    return result.then(
      (res) => {
        finish(null, res);
        return res;
      },
      (err: Error) => {
        finish(err);
        throw err;
      },
    );
  }

  /** `SELECT 1`, not recorded in the request's query log. */
  ping(): Promise<unknown> {
    return super.query('SELECT 1');
  }
}

/** pg's own wording, kept so `isDatabaseUnavailable` (and Prisma's wrapping) recognise it. */
const TIMEOUT_MESSAGE = 'timeout exceeded when trying to connect';

export class PoolTimeoutError extends Error {
  override name = 'PoolTimeoutError';
  readonly code = 'POOL_TIMEOUT';
}

type ConnectCallback = (
  err: Error | undefined,
  client: pg.PoolClient | undefined,
  done: (release?: Error | boolean) => void,
) => void;

const WAIT_SAMPLES = 1024;
const WARN_EVERY_MS = 10_000;
const SATURATION = 0.9;
/** A pre-ping slower than this (or the rest of the acquire timeout) discards the connection. */
const PRE_PING_TIMEOUT_MS = 1000;

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1);
  return sorted[Math.max(0, i)] ?? 0;
}

function withDeadline<T>(promise: Promise<T>, ms: number, onLate: (value: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      reject(new PoolTimeoutError(TIMEOUT_MESSAGE));
    }, ms);
    timer.unref();
    promise.then(
      (value) => {
        clearTimeout(timer);
        if (done) onLate(value);
        else resolve(value);
      },
      (err) => {
        clearTimeout(timer);
        if (!done) reject(err);
      },
    );
  });
}

export class PostlinePool extends pg.Pool {
  readonly settings: Required<PoolSettings>;
  #log: PoolLogger | undefined;
  #lastReleased = new WeakMap<pg.PoolClient, number>();
  #openedAt = new WeakMap<pg.PoolClient, number>();
  #broken = new WeakSet<pg.PoolClient>();
  /** The request holding each checked-out connection (only requests with a query log). */
  #owner = new WeakMap<pg.PoolClient, RequestConnections>();
  #discarded = new WeakSet<pg.PoolClient>();
  #waits = new Float64Array(WAIT_SAMPLES);
  #waitCount = 0;
  #waitListeners = new Set<(ms: number) => void>();
  #counts = {
    acquired: 0,
    acquireTimeouts: 0,
    opened: 0,
    closed: 0,
    closedIdle: 0,
    closedLifetime: 0,
    closedError: 0,
    errored: 0,
    prePings: 0,
    prePingFailures: 0,
  };
  #lastWaitWarn = 0;
  #suppressedWaitWarns = 0;
  #saturatedSince: number | undefined;
  #lastSaturationWarn = 0;
  #sampler: NodeJS.Timeout | undefined;

  constructor(connectionString: string, s: PoolSettings, logger?: PoolLogger) {
    super({
      connectionString,
      Client: TimedClient,
      min: s.size,
      max: s.size + s.maxOverflow,
      idleTimeoutMillis: s.idleTimeoutMs,
      maxLifetimeSeconds: s.maxLifetimeS,
      connectionTimeoutMillis: s.acquireTimeoutMs,
      statement_timeout: s.statementTimeoutMs || undefined,
      application_name: s.applicationName,
      keepAlive: true,
    });
    this.settings = {
      prePingIdleMs: 1000,
      waitWarnMs: 1000,
      saturationWarnS: 30,
      logEvents: false,
      maxPerRequest: s.size + s.maxOverflow,
      ...s,
    };
    this.#log = logger;
    const events = this.settings.logEvents && logger ? logger : undefined;

    this.on('connect', (client) => {
      this.#counts.opened++;
      this.#openedAt.set(client, Date.now());
      // Lives as long as the client: a server-closed connection emits 'error' at any moment,
      // including while checked out with no query running, which would otherwise be unhandled.
      client.on('error', (err: Error) => {
        if (!this.#broken.has(client)) {
          this.#broken.add(client);
          this.#counts.errored++;
        }
        events?.debug({ err: err.message }, 'pool: connection error');
      });
      events?.debug({ total: this.totalCount }, 'pool: connection opened');
    });
    this.on('release', (err, client) => {
      const owner = this.#owner.get(client);
      if (owner) {
        this.#owner.delete(client);
        owner.free(client);
      }
      if (err === DISCARDED) {
        this.#discarded.add(client);
      } else if (err && !this.#broken.has(client)) {
        this.#broken.add(client);
        this.#counts.errored++;
      }
      this.#lastReleased.set(client, performance.now());
    });
    this.on('remove', (client) => {
      this.#counts.closed++;
      const age = Date.now() - (this.#openedAt.get(client) ?? Date.now());
      let reason: 'error' | 'lifetime' | 'idle' = 'idle';
      if (this.#broken.has(client) || this.#discarded.has(client)) reason = 'error';
      else if (s.maxLifetimeS > 0 && age >= s.maxLifetimeS * 1000 - 50) reason = 'lifetime';
      if (reason === 'error') this.#counts.closedError++;
      else if (reason === 'lifetime') this.#counts.closedLifetime++;
      else this.#counts.closedIdle++;
      events?.debug({ reason, total: this.totalCount }, 'pool: connection closed');
    });
    // An idle client whose server went away is removed by pg-pool and re-emitted here;
    // without a listener the process would die.
    this.on('error', () => {});

    if (logger && this.settings.saturationWarnS > 0) {
      this.#sampler = setInterval(() => this.#sampleSaturation(), 1000);
      this.#sampler.unref();
    }
  }

  /** Opens connections until `min` (DB_POOL_SIZE) are open. Rejects if one cannot be opened. */
  async warm(): Promise<void> {
    const max = this.options.max ?? 0;
    const missing = Math.max(0, Math.min(this.options.min ?? 0, max) - this.totalCount);
    // pg.Pool#connect would hand out an idle connection instead of opening one: open directly.
    const internal = this as unknown as {
      newClient(pending: { callback: (err?: Error, client?: pg.PoolClient) => void }): void;
    };
    const results = await Promise.allSettled(
      Array.from(
        { length: missing },
        () =>
          new Promise<pg.PoolClient>((resolve, reject) =>
            internal.newClient({
              callback: (err, client) => (err || !client ? reject(err) : resolve(client)),
            }),
          ),
      ),
    );
    let failure: unknown;
    for (const r of results) {
      if (r.status === 'fulfilled') r.value.release();
      else failure ??= r.reason;
    }
    if (failure) throw failure;
  }

  // pg.Pool#query calls this.connect(callback), so Prisma's plain queries go through here too.
  override connect(): Promise<pg.PoolClient>;
  override connect(callback: ConnectCallback): void;
  // biome-ignore lint/suspicious/noExplicitAny: pg's overloaded connect signature
  override connect(callback?: ConnectCallback): any {
    const acquired = this.#acquire();
    if (!callback) return acquired;
    acquired.then(
      (client) => callback(undefined, client, client.release),
      (err: Error) => callback(err, undefined, () => {}),
    );
    return undefined;
  }

  async #acquire(): Promise<pg.PoolClient> {
    const started = performance.now();
    const deadline = started + this.settings.acquireTimeoutMs;
    const log = currentQueryLog();
    if (!log) return this.#acquireFromPool(started, deadline);
    if (log.aborted) throw log.aborted;
    log.connections ??= new RequestConnections(this.settings.maxPerRequest);
    const share = log.connections;
    if (!share.tryReserve()) {
      try {
        await share.wait(deadline, () => {
          this.#counts.acquireTimeouts++;
          return new PoolTimeoutError(
            `${TIMEOUT_MESSAGE}: this request already holds ${share.limit} database connections ` +
              `(DB_POOL_MAX_PER_REQUEST) and none came free within ${this.settings.acquireTimeoutMs} ms`,
          );
        });
      } catch (err) {
        this.#recordWait(performance.now() - started);
        throw err;
      }
    }
    let client: pg.PoolClient;
    try {
      client = await this.#acquireFromPool(started, deadline);
    } catch (err) {
      share.free();
      throw err;
    }
    if (log.aborted) {
      // Timed out while this checkout waited in the pool's queue.
      share.free();
      client.release();
      throw log.aborted;
    }
    share.hold(client);
    this.#owner.set(client, share);
    return client;
  }

  async #acquireFromPool(started: number, deadline: number): Promise<pg.PoolClient> {
    for (;;) {
      const remaining = deadline - performance.now();
      let client: pg.PoolClient;
      try {
        if (remaining <= 0) throw new PoolTimeoutError(TIMEOUT_MESSAGE);
        client = await withDeadline(super.connect(), remaining, (late) => late.release());
      } catch (err) {
        throw this.#acquireFailed(err, started);
      }
      const usable = await this.#validate(client, deadline);
      if (usable) {
        this.#recordWait(performance.now() - started);
        return client;
      }
    }
  }

  /** Whether `client` may be handed out; a broken one is released with an error (closed). */
  async #validate(client: pg.PoolClient, deadline: number): Promise<boolean> {
    const internal = client as pg.PoolClient & { _queryable?: boolean; _ending?: boolean };
    if (this.#broken.has(client) || internal._queryable === false || internal._ending) {
      client.release(new Error('connection is broken'));
      return false;
    }
    const lastReleased = this.#lastReleased.get(client);
    if (lastReleased === undefined) return true; // just opened
    if (performance.now() - lastReleased < this.settings.prePingIdleMs) return true;
    this.#counts.prePings++;
    try {
      const remaining = Math.max(1, Math.min(PRE_PING_TIMEOUT_MS, deadline - performance.now()));
      await withDeadline((client as unknown as TimedClient).ping(), remaining, () => {});
      return true;
    } catch (err) {
      this.#counts.prePingFailures++;
      this.#log?.debug(
        { err: (err as Error).message },
        'pool: pre-ping failed; connection discarded',
      );
      client.release(err instanceof Error ? err : new Error(String(err)));
      // A half-open socket would never answer pg's polite goodbye: close it hard.
      (
        client as unknown as { connection?: { stream?: { destroy(): void } } }
      ).connection?.stream?.destroy();
      return false;
    }
  }

  #acquireFailed(err: unknown, started: number): Error {
    const waited = performance.now() - started;
    const message = err instanceof Error ? err.message : String(err);
    if (/timeout/i.test(message)) {
      this.#counts.acquireTimeouts++;
      this.#recordWait(waited);
      const e = new PoolTimeoutError(
        `${TIMEOUT_MESSAGE}: no database connection was free within ${this.settings.acquireTimeoutMs} ms ` +
          `(${this.totalCount - this.idleCount}/${this.options.max} in use, ${this.waitingCount} waiting)`,
        { cause: err },
      );
      return e;
    }
    if (!this.ending) this.#counts.errored++;
    return err instanceof Error ? err : new Error(message);
  }

  #recordWait(ms: number) {
    this.#waits[this.#waitCount % WAIT_SAMPLES] = ms;
    this.#waitCount++;
    this.#counts.acquired++;
    for (const listener of this.#waitListeners) listener(ms);
    const threshold = this.settings.waitWarnMs;
    if (threshold > 0 && ms > threshold && this.#log) {
      const now = Date.now();
      if (now - this.#lastWaitWarn >= WARN_EVERY_MS) {
        this.#log.warn(
          {
            waitedMs: Math.round(ms),
            thresholdMs: threshold,
            similarSinceLastWarning: this.#suppressedWaitWarns,
            pool: this.#shortStats(),
          },
          'a request waited long for a database connection; consider raising DB_POOL_SIZE / DB_POOL_MAX_OVERFLOW',
        );
        this.#lastWaitWarn = now;
        this.#suppressedWaitWarns = 0;
      } else {
        this.#suppressedWaitWarns++;
      }
    }
  }

  #sampleSaturation() {
    const now = Date.now();
    const { utilization } = this.#shortStats();
    if (utilization < SATURATION) {
      this.#saturatedSince = undefined;
      return;
    }
    this.#saturatedSince ??= now;
    const sustainedMs = this.settings.saturationWarnS * 1000;
    if (
      now - this.#saturatedSince >= sustainedMs &&
      now - this.#lastSaturationWarn >= sustainedMs
    ) {
      this.#lastSaturationWarn = now;
      this.#log?.warn(
        { sinceMs: now - this.#saturatedSince, pool: this.#shortStats() },
        'database pool utilization has stayed above 90%',
      );
    }
  }

  #shortStats() {
    const max = this.options.max ?? 1;
    const inUse = this.totalCount - this.idleCount;
    return {
      size: this.totalCount,
      max,
      idle: this.idleCount,
      inUse,
      waiting: this.waitingCount,
      utilization: max > 0 ? inUse / max : 0,
    };
  }

  /** Subscribes to acquire waits (ms, including timeouts); returns the unsubscribe function. */
  onAcquireWait(listener: (ms: number) => void): () => void {
    this.#waitListeners.add(listener);
    return () => this.#waitListeners.delete(listener);
  }

  stats(): PoolStats {
    const n = Math.min(this.#waitCount, WAIT_SAMPLES);
    const sorted = this.#waits.slice(0, n).sort();
    const c = this.#counts;
    return {
      ...this.#shortStats(),
      min: this.options.min ?? 0,
      acquireWaitP50Ms: percentile(sorted, 0.5),
      acquireWaitP99Ms: percentile(sorted, 0.99),
      acquired: c.acquired,
      acquireTimeouts: c.acquireTimeouts,
      opened: c.opened,
      closed: c.closed,
      closedByReason: { idle: c.closedIdle, lifetime: c.closedLifetime, error: c.closedError },
      errored: c.errored,
      prePings: c.prePings,
      prePingFailures: c.prePingFailures,
    };
  }

  override end(): Promise<void>;
  override end(callback: () => void): void;
  // biome-ignore lint/suspicious/noExplicitAny: pg's overloaded end signature
  override end(callback?: () => void): any {
    if (this.#sampler) clearInterval(this.#sampler);
    // biome-ignore lint/suspicious/noExplicitAny: see above
    return (super.end as any)(callback);
  }
}

export function createPool(
  connectionString: string,
  s: PoolSettings,
  logger?: PoolLogger,
): PostlinePool {
  // Statement timings separate the event loop's stalls from the database's time (loop-wait.ts).
  startLoopProbe();
  return new PostlinePool(connectionString, s, logger);
}

/** One consumer of database connections, named by the variables that size it. */
export interface ConnectionDemand {
  variables: string;
  connections: number;
}

/** The API pool's demand: every connection it may open under load. */
export const apiPoolDemand = (s: Pick<PoolSettings, 'size' | 'maxOverflow'>): ConnectionDemand => ({
  variables: 'DB_POOL_SIZE + DB_POOL_MAX_OVERFLOW',
  connections: s.size + s.maxOverflow,
});

/**
 * Every connection one API process may hold: the API pool, the job runner's pool (in the
 * process when WORKER_MODE=inline, in `npm run worker` otherwise, on the same server either
 * way) and the response cache's LISTEN connection. See README.md, "Database connection pool".
 */
export function connectionDemands(
  config: {
    pool: Pick<PoolSettings, 'size' | 'maxOverflow'>;
    jobs?: { mode: string; poolSize: number };
  },
  /** API processes on this host (WEB_CONCURRENCY): each has all of its own pools. */
  processes = 1,
): ConnectionDemand[] {
  const each = (d: ConnectionDemand): ConnectionDemand =>
    processes > 1
      ? {
          variables: `WEB_CONCURRENCY × (${d.variables})`,
          connections: d.connections * processes,
        }
      : d;
  const demands = [each(apiPoolDemand(config.pool))];
  if (config.jobs) {
    const inline = config.jobs.mode === 'inline';
    const jobs = {
      variables: inline ? 'WORKER_POOL_SIZE' : 'WORKER_POOL_SIZE (separate worker, + 2)',
      connections: config.jobs.poolSize + (inline ? 0 : 2),
    };
    demands.push(inline ? each(jobs) : jobs);
  }
  demands.push(each({ variables: 'cache LISTEN', connections: 1 }));
  return demands;
}

export interface ConnectionBudget {
  maxConnections: number;
  reserved: number;
  available: number;
  required: number;
}

/**
 * Refuses (ConfigError naming the variables) when the pools may open more connections than the
 * server accepts from ordinary roles: max_connections - superuser_reserved_connections -
 * reserved_connections (PostgreSQL 16+).
 */
export async function checkConnectionBudget(
  db: pg.ClientBase | pg.Pool,
  demands: ConnectionDemand[],
): Promise<ConnectionBudget> {
  const { rows } = await db.query<{ name: string; setting: string }>(
    `select name, setting from pg_settings
      where name in ('max_connections', 'superuser_reserved_connections', 'reserved_connections')`,
  );
  const setting = (name: string) => Number(rows.find((r) => r.name === name)?.setting ?? 0);
  const maxConnections = setting('max_connections');
  const reserved = setting('superuser_reserved_connections') + setting('reserved_connections');
  const available = maxConnections - reserved;
  const required = demands.reduce((sum, d) => sum + d.connections, 0);
  if (required > available) {
    const parts = demands.map((d) => `${d.variables} = ${d.connections}`).join('; ');
    throw new ConfigError(
      `Invalid configuration:\n  ${demands.map((d) => d.variables).join(' + ')}: ` +
        `the pools may open ${required} connections (${parts}) but the database server accepts ` +
        `${available} (max_connections ${maxConnections} - ${reserved} reserved). ` +
        'Lower DB_POOL_SIZE / DB_POOL_MAX_OVERFLOW or raise max_connections.',
    );
  }
  return { maxConnections, reserved, available, required };
}

/** `checkConnectionBudget` on a short-lived connection of its own (for start-up). */
export async function verifyConnectionBudget(
  connectionString: string,
  demands: ConnectionDemand[],
): Promise<ConnectionBudget> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    return await checkConnectionBudget(client, demands);
  } finally {
    await client.end().catch(() => {});
  }
}
