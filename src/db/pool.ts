/**
 * The API's one pg.Pool, handed to Prisma's driver adapter. Postline owns it so that its
 * size, timeouts, lifetime and metrics are explicit. Every statement is timed.
 */
import pg from 'pg';
import { currentQueryLog, type QueryLog, recordStatement } from './query-log.ts';

export interface PoolSettings {
  size: number;
  maxOverflow: number;
  idleTimeoutMs: number;
  maxLifetimeS: number;
  acquireTimeoutMs: number;
  statementTimeoutMs: number;
  applicationName: string;
}

function queryText(arg: unknown): string {
  if (typeof arg === 'string') return arg;
  if (arg && typeof arg === 'object' && 'text' in arg)
    return String((arg as { text: unknown }).text);
  return '';
}

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
    const started = performance.now();
    const finish = (err: Error | null, res?: pg.QueryResult) => {
      const record = {
        sql,
        durationMs: performance.now() - started,
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
}

export function createPool(connectionString: string, s: PoolSettings): pg.Pool {
  const pool = new pg.Pool({
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
  // An idle client whose server went away emits here; without a listener the process dies.
  pool.on('error', () => {});
  return pool;
}
