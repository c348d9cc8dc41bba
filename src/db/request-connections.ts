/**
 * The database connections one request holds, kept in its query log (AsyncLocalStorage), so
 * the pool can bound them and an operation that runs out of time can be stopped:
 *
 * - share: at most `limit` checkouts (held or being acquired) per request; further ones wait
 *   in the request's own queue for one of its connections, never in the pool's queue ahead of
 *   other requests (DB_POOL_MAX_PER_REQUEST);
 * - abort: the running statements are cancelled (PostgreSQL's cancel request, sent on a
 *   separate socket, so it needs no pool connection), the connections are discarded when
 *   released (a late cancel can then never hit another request's statement), waiting
 *   checkouts fail, and any later SQL of the request is refused at once (pool.ts).
 */
import pg from 'pg';
import type { QueryLog } from './query-log.ts';

/** Passed to `release()` for a connection whose statement was cancelled: the pool closes it. */
export const DISCARDED = new Error('connection discarded after its statement was cancelled');

const CANCEL_TIMEOUT_MS = 2000;

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export class RequestConnections {
  /** Checkouts held or being acquired. */
  inFlight = 0;
  /** Most connections held at once by this request. */
  peak = 0;
  readonly held = new Set<pg.PoolClient>();
  #waiters: Waiter[] = [];

  constructor(readonly limit: number) {}

  /** Takes a slot now if one is free. */
  tryReserve(): boolean {
    if (this.inFlight >= this.limit) return false;
    this.inFlight++;
    return true;
  }

  /** Waits for one of this request's own slots until `deadline` (performance.now() ms). */
  wait(deadline: number, onTimeout: () => Error): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(
          () => {
            const i = this.#waiters.indexOf(waiter);
            if (i >= 0) this.#waiters.splice(i, 1);
            reject(onTimeout());
          },
          Math.max(0, deadline - performance.now()),
        ),
      };
      waiter.timer.unref();
      this.#waiters.push(waiter);
    });
  }

  /** A reserved slot got its connection. */
  hold(client: pg.PoolClient): void {
    this.held.add(client);
    if (this.held.size > this.peak) this.peak = this.held.size;
  }

  /** A reserved slot is free again (connection released, or the checkout failed). */
  free(client?: pg.PoolClient): void {
    if (client) this.held.delete(client);
    const next = this.#waiters.shift();
    if (next) {
      // The slot passes straight to the next waiter: inFlight stays the same.
      clearTimeout(next.timer);
      next.resolve();
    } else {
      this.inFlight--;
    }
  }

  /** Fails waiting checkouts, cancels running statements, discards held connections. */
  abort(error: Error): void {
    // Waiters hold no slot yet: nothing to give back.
    for (const w of this.#waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(error);
    }
    for (const client of this.held) {
      const release = client.release;
      client.release = (err?: Error | boolean) => release(err || DISCARDED);
      void cancelStatement(client);
    }
  }
}

/**
 * Marks the request's SQL as aborted with `error`: statements it issues from now on are
 * refused (except ROLLBACK), and what it holds is cancelled and discarded.
 */
export function abortRequestSql(log: QueryLog, error: Error): void {
  log.aborted = error;
  log.connections?.abort(error);
}

interface ClientInternals {
  host: string;
  port: number;
  processID: number | null;
  secretKey: number | null;
  connectionParameters?: { ssl?: unknown };
}

/**
 * Sends PostgreSQL's cancel request for whatever `client`'s backend is running, the way pg's
 * own `Client#cancel` does (a new socket carrying the backend's id and secret key).
 */
export function cancelStatement(client: pg.PoolClient): Promise<void> {
  const c = client as unknown as ClientInternals;
  if (c.processID == null || c.secretKey == null) return Promise.resolve();
  const { processID, secretKey } = c;
  const canceller = new pg.Client({
    host: c.host,
    port: c.port,
    ssl: c.connectionParameters?.ssl as pg.ClientConfig['ssl'],
  });
  const con = (
    canceller as unknown as {
      connection: {
        connect(port: number | string, host?: string): void;
        cancel(pid: number, key: number): void;
        on(event: string, fn: (...args: unknown[]) => void): void;
        stream?: { destroy(): void };
      };
    }
  ).connection;
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      con.stream?.destroy();
      resolve();
    }, CANCEL_TIMEOUT_MS);
    timer.unref();
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    con.on('error', done);
    con.on('end', done);
    con.on('connect', () => con.cancel(processID, secretKey));
    if (c.host?.startsWith('/')) con.connect(`${c.host}/.s.PGSQL.${c.port}`);
    else con.connect(c.port, c.host);
  });
}
