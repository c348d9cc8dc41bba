/**
 * A Postline app on a fresh database cloned from the run's template, driven through
 * `yoga.fetch` so every plugin runs. Also records the SQL each request issued.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, inject } from 'vitest';
import { type App, createApp } from '../src/app.ts';
import { TokenService } from '../src/auth/tokens.ts';
import { loadConfig } from '../src/config.ts';
import { quoteIdent } from '../src/db/embedded.ts';
import { createPool } from '../src/db/pool.ts';
import { createPrisma, type PrismaClient } from '../src/db/prisma.ts';
import { onStatement, type QueryLog } from '../src/db/query-log.ts';
import { encodeGlobalId } from '../src/global-id.ts';
import { createLogger, type Logger } from '../src/observability/logger.ts';
import { setCursorSecret } from '../src/read/keyset.ts';
import { PASSWORD } from './fixtures.ts';

export interface GqlResult<T = Record<string, any>> {
  status: number;
  data: T | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, any> }[];
  extensions?: Record<string, any>;
  headers: Headers;
}

export interface TestApp {
  app: App;
  url: string;
  pool: pg.Pool;
  prisma: PrismaClient;
  /** Runs a GraphQL operation; `as` is a demo email to sign in as, or a raw token. */
  gql<T = Record<string, any>>(
    query: string,
    variables?: Record<string, unknown>,
    opts?: { as?: string; token?: string; headers?: Record<string, string> },
  ): Promise<GqlResult<T>>;
  tokenFor(email: string): Promise<string>;
  /** SQL statements issued by the last request, with text. */
  lastStatements(): { sql: string; durationMs: number }[];
  /** Direct SQL on the test database (not counted). */
  sql<R extends pg.QueryResultRow = any>(text: string, params?: unknown[]): Promise<R[]>;
  close(): Promise<void>;
}

export function databaseUrl(name: string): string {
  const u = new URL(inject('adminUrl'));
  u.pathname = `/${name}`;
  return u.toString();
}

/** Creates a database cloned from the template; returns its URL. */
export async function cloneTemplate(label = 'file'): Promise<string> {
  const name = `postline_test_${label}_${randomUUID().slice(0, 8)}_${inject('runId')}`;
  const admin = new pg.Client({ connectionString: inject('adminUrl') });
  await admin.connect();
  try {
    // Template cloning needs exclusive access to the template; retry while another file clones.
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.query(
          `CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(inject('templateDb'))}`,
        );
        break;
      } catch (err) {
        if ((err as { code?: string }).code !== '55006' || attempt > 50) throw err;
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
      }
    }
  } finally {
    await admin.end();
  }
  return databaseUrl(name);
}

export const TEST_SECRET = 'test-secret-that-is-at-least-32-characters-long';

export async function createTestApp(
  env: Record<string, string> = {},
  opts: { url?: string; logger?: Logger } = {},
): Promise<TestApp> {
  const url = opts.url ?? (await cloneTemplate());
  // The response cache is off unless a test asks for it (RESPONSE_CACHE: 'memory' | 'redis'):
  // most tests write through SQL directly and must read what they wrote.
  const config = loadConfig({
    NODE_ENV: 'test',
    JWT_SECRET: TEST_SECRET,
    DATABASE_URL: url,
    RESPONSE_CACHE: 'off',
    // Tests of caching and invalidation expect a response stored on its first miss; the default
    // (a response is stored on its second miss) is tested in cache.test.ts.
    CACHE_ADMIT_AFTER_MISSES: '1',
    ...env,
  });
  const pool = createPool(url, { ...config.pool, size: Math.min(config.pool.size, 5) });
  const prisma = createPrisma(pool);
  setCursorSecret(config.jwtSecret);
  const tokens = new TokenService(config.jwtSecret, config.jwtTtlS);
  const logger = opts.logger ?? createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
  const app = createApp({ config, pool, prisma, tokens, logger });
  await app.cache?.listen(url, pool);
  const tokenCache = new Map<string, string>();
  let statements: { sql: string; durationMs: number; log: QueryLog | undefined }[] = [];
  const stopListening = onStatement((record, log) => {
    statements.push({ sql: record.sql, durationMs: record.durationMs, log });
  });

  const raw = async (body: unknown, headers: Record<string, string>) => {
    const res = await app.yoga.fetch('http://postline.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Omit<GqlResult, 'status' | 'headers'>;
    return { ...json, status: res.status, headers: res.headers } as GqlResult;
  };

  const tokenFor = async (email: string) => {
    const cached = tokenCache.get(email);
    if (cached) return cached;
    const res = await raw(
      {
        query:
          'mutation($e: String!, $p: String!) { login(input: { email: $e, password: $p }) { token } }',
        variables: { e: email, p: PASSWORD },
      },
      {},
    );
    const token = res.data?.login?.token as string | undefined;
    if (!token) throw new Error(`login failed for ${email}: ${JSON.stringify(res.errors)}`);
    tokenCache.set(email, token);
    return token;
  };

  const harness: TestApp = {
    app,
    url,
    pool,
    prisma,
    tokenFor,
    async gql(query, variables, o = {}) {
      const headers: Record<string, string> = { ...(o.headers ?? {}) };
      const token = o.token ?? (o.as ? await tokenFor(o.as) : undefined);
      if (token) headers.authorization = `Bearer ${token}`;
      statements = [];
      return raw({ query, variables }, headers) as Promise<GqlResult<any>>;
    },
    lastStatements: () =>
      statements
        .filter((s) => s.log !== undefined)
        .map(({ sql, durationMs }) => ({ sql, durationMs })),
    async sql(text, params) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        return (await client.query(text, params)).rows;
      } finally {
        await client.end();
      }
    },
    async close() {
      stopListening();
      app.metrics.stop();
      await app.profiling.stop();
      await app.cache?.close();
      await app.services.auth?.close();
      await app.persisted.close();
      await prisma.$disconnect().catch(() => {});
      await pool.end().catch(() => {});
    },
  };
  return harness;
}

/** One app per test file, closed after the file's tests. */
export async function useTestApp(
  env: Record<string, string> = {},
  opts: { logger?: Logger } = {},
): Promise<TestApp> {
  const t = await createTestApp(env, opts);
  afterAll(() => t.close());
  return t;
}

export const gid = encodeGlobalId;
export const rawId = (globalId: string) =>
  Number(Buffer.from(globalId, 'base64url').toString('utf8').split(':')[1]);
