import { createHash } from 'node:crypto';
import { PrismaPg } from '@prisma/adapter-pg';
import type pg from 'pg';
import { PrismaClient } from '../generated/prisma/client.ts';

export { Prisma } from '../generated/prisma/client.ts';
export type { PrismaClient };

const MAX_NAMED = 2000;
const names = new Map<string, string>();

/**
 * Names each distinct SQL text so `pg` prepares it once per connection and PostgreSQL skips
 * parsing and planning on reuse. Postline's statements come from a small set of shapes
 * (Prisma's queries and the keyset pager's), so the set stays small; past MAX_NAMED distinct
 * texts new ones run unprepared rather than growing every connection's statement cache.
 */
function statementName(query: { sql: string }): string | undefined {
  let name = names.get(query.sql);
  if (name === undefined && names.size < MAX_NAMED) {
    name = `pl_${createHash('sha1').update(query.sql).digest('base64url').slice(0, 20)}`;
    names.set(query.sql, name);
  }
  return name;
}

/** The Prisma client over Postline's own pool. */
export function createPrisma(pool: pg.Pool): PrismaClient {
  return new PrismaClient({
    // No call-site capture for error messages: errors are masked for clients anyway, and
    // capturing a stack on every query is a measurable cost.
    errorFormat: 'minimal',
    adapter: new PrismaPg(pool, {
      onPoolError: () => {},
      // `undefined` (over the limit) runs the statement unnamed.
      statementNameGenerator: statementName as (query: { sql: string }) => string,
    }),
  });
}
