/**
 * Named prepared statements for Postline's own SQL and Prisma's: each distinct statement text
 * gets a stable name, so `pg` prepares it once per connection and PostgreSQL skips parsing and
 * planning on reuse. The set of texts is small (Prisma's queries and the read engine's shapes);
 * past MAX_NAMED distinct texts new ones run unnamed rather than growing every connection's
 * statement cache.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Prisma } from './prisma.ts';

const MAX_NAMED = 2000;
const names = new Map<string, string>();
let prepared = true;

/** Turns named statements on or off (off: through a transaction-mode pooler, see README). */
export function usePreparedStatements(on: boolean): void {
  prepared = on;
}

/** Whether statements are being named (graphile-worker follows the same setting). */
export function preparedStatementsOn(): boolean {
  return prepared;
}

/** The statement name of `text`, or undefined to run it unnamed. */
export function statementName(text: string): string | undefined {
  if (!prepared) return undefined;
  let name = names.get(text);
  if (name === undefined && names.size < MAX_NAMED) {
    name = `pl_${createHash('sha1').update(text).digest('base64url').slice(0, 20)}`;
    names.set(text, name);
  }
  return name;
}

/** Runs `sql` on the API's pool (timed and attributed like every statement); returns its rows. */
export async function runSql<R>(ctx: { pool: pg.Pool }, sql: Prisma.Sql): Promise<R[]> {
  const text = sql.text;
  const name = statementName(text);
  const result = await ctx.pool.query(
    name ? { name, text, values: sql.values } : { text, values: sql.values },
  );
  return result.rows as R[];
}
