/**
 * Every setting Postline reads, parsed and validated once. A bad value stops start-up
 * with a message that names the variable. The README lists them all.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';

const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const v = raw?.trim();
      if (v === undefined || v === '') return def;
      if (!/^-?\d+$/.test(v)) {
        ctx.addIssue({ code: 'custom', message: `must be a whole number, got "${v}"` });
        return z.NEVER;
      }
      const n = Number(v);
      if (n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `must be between ${min} and ${max}, got ${n}` });
        return z.NEVER;
      }
      return n;
    });

const bool = (def: boolean) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const v = raw?.trim().toLowerCase();
      if (v === undefined || v === '') return def;
      if (['true', '1', 'yes'].includes(v)) return true;
      if (['false', '0', 'no'].includes(v)) return false;
      ctx.addIssue({ code: 'custom', message: `must be true or false, got "${v}"` });
      return z.NEVER;
    });

const optionalString = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .optional();

const url = (protocols: string[]) =>
  optionalString.refine(
    (v) => v === undefined || protocols.some((p) => v.startsWith(`${p}:`)),
    `must be a ${protocols.join(' or ')} URL`,
  );

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: int(4000, 0, 65_535),
  HOST: z.string().default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),

  DATABASE_URL: url(['postgres', 'postgresql']),
  DATA_DIR: z.string().default('.data'),
  EMBEDDED_PG_PORT: int(54_329, 1, 65_535),
  SEED_ON_START: bool(true),
  SEED_POSTS: int(20_000, 0, 10_000_000),

  DB_POOL_SIZE: int(20, 1, 1000),
  DB_POOL_MAX_OVERFLOW: int(20, 0, 1000),
  DB_POOL_IDLE_TIMEOUT_MS: int(30_000, 100),
  DB_POOL_MAX_LIFETIME_S: int(3600, 0),
  DB_POOL_ACQUIRE_TIMEOUT_MS: int(5000, 1),
  DB_STATEMENT_TIMEOUT_MS: int(30_000, 0),
  DB_APPLICATION_NAME: z.string().default('postline'),

  JWT_SECRET: optionalString.refine(
    (v) => v === undefined || v.length >= 32,
    'must be at least 32 characters',
  ),
  JWT_TTL_S: int(12 * 3600, 60),

  GRAPHIQL: bool(true),
  MAX_QUERY_DEPTH: int(12, 2, 100),
  SHUTDOWN_TIMEOUT_MS: int(10_000, 0),
});

export type Config = ReturnType<typeof loadConfig>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses `env` (default `process.env`). Throws a ConfigError naming each bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env) {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  if (production && !e.JWT_SECRET) {
    throw new ConfigError(
      'Invalid configuration:\n  JWT_SECRET: required in production (at least 32 characters)',
    );
  }
  return {
    env: e.NODE_ENV,
    production,
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL ?? (e.NODE_ENV === 'test' ? 'silent' : 'info'),
    databaseUrl: e.DATABASE_URL,
    dataDir: e.DATA_DIR,
    embeddedPgPort: e.EMBEDDED_PG_PORT,
    seedOnStart: e.SEED_ON_START,
    seedPosts: e.SEED_POSTS,
    pool: {
      size: e.DB_POOL_SIZE,
      maxOverflow: e.DB_POOL_MAX_OVERFLOW,
      idleTimeoutMs: e.DB_POOL_IDLE_TIMEOUT_MS,
      maxLifetimeS: e.DB_POOL_MAX_LIFETIME_S,
      acquireTimeoutMs: e.DB_POOL_ACQUIRE_TIMEOUT_MS,
      statementTimeoutMs: e.DB_STATEMENT_TIMEOUT_MS,
      applicationName: e.DB_APPLICATION_NAME,
    },
    /** Outside production a per-process secret is generated: tokens die with the process. */
    jwtSecret: e.JWT_SECRET ?? randomBytes(32).toString('hex'),
    jwtTtlS: e.JWT_TTL_S,
    graphiql: e.GRAPHIQL && !production,
    maxQueryDepth: e.MAX_QUERY_DEPTH,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
  };
}
