/**
 * Is there a transaction-mode pooler (PgBouncer `pool_mode = transaction` or `statement`, or a
 * managed equivalent) between Postline and PostgreSQL? Through one, a client's consecutive
 * transactions may run on different server sessions: named prepared statements (PgBouncer
 * before 1.21), LISTEN, advisory locks and session settings do not carry over.
 *
 * A normal connection cannot ask the pooler what it is, so the check watches the behaviour
 * itself, on two fresh connections A and B:
 *   1. A runs a statement and notes its server session (`pg_backend_pid()`);
 *   2. B opens a transaction and notes its session;
 *   3. A runs a statement again while B's transaction is open.
 * Direct or through a session pooler, A keeps one server session for life: B's differs and A's
 * stays. Through a transaction pooler A's session goes back to the pooler's pool after step 1,
 * so B is handed it (PgBouncer reuses the last released server first) or A gets another one
 * in step 3. The check never reports a pooler that is not there; `pgbouncer=true` in the URL
 * (Prisma's convention) says so without probing.
 */
import pg from 'pg';
import { parse as parseConnectionString } from 'pg-connection-string';
import { ConfigError } from '../config.ts';

export interface PoolerCheck {
  /** Consecutive transactions of one connection may run on different server sessions. */
  transactionPooled: boolean;
  /** How that was decided, for logs and error messages. */
  reason: string;
}

/** `pgbouncer=true` in the URL's query string. */
export function urlSaysPgBouncer(url: string): boolean {
  try {
    // pg-connection-string, not WHATWG URL: it reads libpq's forms, Unix sockets included.
    return (parseConnectionString(url) as { pgbouncer?: string }).pgbouncer === 'true';
  } catch {
    return false;
  }
}

export async function detectTransactionPooler(url: string): Promise<PoolerCheck> {
  if (urlSaysPgBouncer(url)) {
    return { transactionPooled: true, reason: 'pgbouncer=true in the connection URL' };
  }
  const a = new pg.Client({ connectionString: url, application_name: 'postline-pooler-check' });
  const b = new pg.Client({ connectionString: url, application_name: 'postline-pooler-check' });
  a.on('error', () => {});
  b.on('error', () => {});
  const pid = async (c: pg.Client) =>
    (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
  try {
    await Promise.all([a.connect(), b.connect()]);
    for (let round = 0; round < 3; round++) {
      const a1 = await pid(a);
      await b.query('BEGIN');
      const inB = await pid(b);
      // Sent before B commits: with a one-connection pooler A waits for B's server.
      const again = pid(a);
      await b.query('COMMIT');
      const a2 = await again;
      if (inB === a1 || a2 !== a1) {
        return {
          transactionPooled: true,
          reason: 'server sessions are shared between client connections (transaction pooling)',
        };
      }
    }
    return { transactionPooled: false, reason: 'each connection keeps its own server session' };
  } finally {
    await Promise.all([a.end().catch(() => {}), b.end().catch(() => {})]);
  }
}

/**
 * DB_PREPARED_STATEMENTS: `on` and `off` are taken as said; `auto` is off when `url` leads
 * through a transaction-mode pooler.
 */
export async function resolvePreparedStatements(
  mode: 'auto' | 'on' | 'off',
  url: string,
): Promise<{ on: boolean; reason: string }> {
  if (mode !== 'auto') return { on: mode === 'on', reason: `DB_PREPARED_STATEMENTS=${mode}` };
  const check = await detectTransactionPooler(url);
  return check.transactionPooled
    ? { on: false, reason: `transaction pooler detected: ${check.reason}` }
    : { on: true, reason: 'no transaction pooler detected' };
}

/**
 * Refuses (ConfigError naming `variable`) when `url` leads through a transaction pooler: what
 * runs on it needs a session of its own (graphile-worker's LISTEN/NOTIFY and advisory locks,
 * the migrations' advisory lock, the cache's LISTEN).
 */
export async function requireSessionConnection(
  url: string,
  variable: string,
  what: string,
): Promise<void> {
  const check = await detectTransactionPooler(url);
  if (!check.transactionPooled) return;
  throw new ConfigError(
    `Invalid configuration:\n  ${variable}: ${what} needs a database session of its own (LISTEN/NOTIFY, advisory locks), but this URL leads through a transaction-mode pooler (${check.reason}). Set DATABASE_SESSION_URL to PostgreSQL directly or to a PgBouncer in session mode (DATABASE_URL may stay on the transaction pooler).`,
  );
}
