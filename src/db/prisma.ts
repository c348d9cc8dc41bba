import { PrismaPg } from '@prisma/adapter-pg';
import type pg from 'pg';
import { PrismaClient } from '../generated/prisma/client.ts';
import { statementName } from './statements.ts';

export { Prisma } from '../generated/prisma/client.ts';
export type { PrismaClient };

/** The Prisma client over Postline's own pool. */
export function createPrisma(pool: pg.Pool): PrismaClient {
  return new PrismaClient({
    // No call-site capture for error messages: errors are masked for clients anyway, and
    // capturing a stack on every query is a measurable cost.
    errorFormat: 'minimal',
    adapter: new PrismaPg(pool, {
      onPoolError: () => {},
      // `undefined` (over the limit) runs the statement unnamed.
      statementNameGenerator: ((query: { sql: string }) => statementName(query.sql)) as (query: {
        sql: string;
      }) => string,
    }),
  });
}
