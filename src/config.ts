/**
 * Every setting Postline reads, parsed and validated once. A bad value stops start-up
 * with a message that names the variable. The README lists them all.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';

const int = <D extends number | null>(def: D, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const v = raw?.trim();
      if (v === undefined || v === '') return def as number | D;
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

const bool = <D extends boolean | null>(def: D) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const v = raw?.trim().toLowerCase();
      if (v === undefined || v === '') return def as boolean | D;
      if (['true', '1', 'yes'].includes(v)) return true as boolean | D;
      if (['false', '0', 'no'].includes(v)) return false as boolean | D;
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
  WEB_CONCURRENCY: int(1, 1, 256),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),

  DATABASE_URL: url(['postgres', 'postgresql']),
  DATABASE_SESSION_URL: url(['postgres', 'postgresql']),
  DATA_DIR: z.string().default('.data'),
  EMBEDDED_PG_PORT: int(54_329, 1, 65_535),
  SEED_ON_START: bool(true),
  SEED_POSTS: int(20_000, 0, 10_000_000),

  DB_POOL_SIZE: int(20, 1, 1000),
  DB_POOL_MAX_OVERFLOW: int(20, 0, 1000),
  DB_POOL_IDLE_TIMEOUT_MS: int(30_000, 100, 86_400_000),
  DB_POOL_MAX_LIFETIME_S: int(3600, 0, 7 * 86_400),
  DB_POOL_ACQUIRE_TIMEOUT_MS: int(5000, 1, 600_000),
  DB_POOL_PRE_PING_IDLE_MS: int(1000, 0, 86_400_000),
  DB_POOL_WAIT_WARN_MS: int(1000, 0, 600_000),
  DB_POOL_SATURATION_WARN_S: int(30, 0, 86_400),
  DB_STATEMENT_TIMEOUT_MS: int(30_000, 0, 86_400_000),
  /** Unset: an eighth of DB_POOL_SIZE + DB_POOL_MAX_OVERFLOW, at least 2 (see loadConfig). */
  DB_POOL_MAX_PER_REQUEST: int(0, 0, 1000),
  DB_APPLICATION_NAME: z.string().trim().min(1).max(63).default('postline'),
  DB_PREPARED_STATEMENTS: z.enum(['auto', 'on', 'off']).default('auto'),

  JWT_SECRET: optionalString.refine(
    (v) => v === undefined || v.length >= 32,
    'must be at least 32 characters',
  ),
  JWT_TTL_S: int(12 * 3600, 60),
  AUTH_RECHECK_MS: int(2000, 0, 60_000),
  LOGIN_MAX_FAILURES_PER_ACCOUNT: int(5, 0, 1_000_000),
  LOGIN_MAX_FAILURES_PER_ADDRESS: int(20, 0, 1_000_000),
  LOGIN_THROTTLE_WINDOW_S: int(900, 1, 86_400),
  LOGIN_THROTTLE_REDIS_PREFIX: z.string().trim().min(1).max(100).default('postline:login:'),
  TRUST_PROXY: int(0, 0, 10),

  GRAPHIQL: bool(true),
  INTROSPECTION: bool(null),
  GRAPHQL_SUGGESTIONS: bool(null),
  CORS_ORIGINS: z.string().default(''),
  HSTS_MAX_AGE_S: int(null, 0, 63_072_000),
  MAX_REQUEST_BODY_BYTES: int(1024 * 1024, 1024, 100 * 1024 * 1024),
  METRICS_TOKEN: optionalString.refine(
    (v) => v === undefined || v.length >= 16,
    'must be at least 16 characters',
  ),
  METRICS_PORT: int(0, 0, 65_535),

  REDIS_URL: url(['redis', 'rediss']),
  RESPONSE_CACHE: z.enum(['off', 'memory', 'redis']).optional(),
  CACHE_TTL_S: int(300, 0, 86_400),
  CACHE_TTL_POST_S: int(300, 0, 86_400),
  CACHE_TTL_PROJECT_S: int(300, 0, 86_400),
  CACHE_TTL_CLIENT_S: int(600, 0, 86_400),
  CACHE_TTL_DASHBOARD_S: int(300, 0, 86_400),
  CACHE_MAX_ENTRIES: int(10_000, 1, 10_000_000),
  CACHE_MAX_BYTES: int(100 * 1024 * 1024, 1024),
  CACHE_ADMIT_AFTER_MISSES: int(2, 1, 10),
  CACHE_REDIS_PREFIX: z.string().trim().min(1).max(100).default('postline:rc:'),
  APQ: bool(true),
  APQ_MAX_ENTRIES: int(10_000, 1, 10_000_000),
  APQ_MAX_BYTES: int(32 * 1024 * 1024, 1024),
  APQ_MAX_DOCUMENT_BYTES: int(32 * 1024, 256, 1024 * 1024),
  APQ_TTL_S: int(7 * 86_400, 1, 365 * 86_400),
  APQ_REDIS_PREFIX: z.string().trim().min(1).max(100).default('postline:apq:'),
  TRUSTED_DOCUMENTS: optionalString,
  TRUSTED_DOCUMENTS_ONLY: bool(null),
  MAX_QUERY_DEPTH: int(12, 2, 100),
  GRAPHQL_JIT: bool(true),
  MAX_QUERY_COST: int(5000, 1, 100_000_000),
  MAX_QUERY_ALIASES: int(15, 0, 100_000),
  MAX_QUERY_TOKENS: int(1000, 50, 1_000_000),
  MAX_QUERY_DIRECTIVES: int(50, 0, 100_000),
  OPERATION_TIMEOUT_MS: int(10_000, 0, 3_600_000),
  SHUTDOWN_TIMEOUT_MS: int(10_000, 0),
  /** Unset: 5000 in production, else 0 (see loadConfig). */
  SHUTDOWN_DRAIN_MS: int(null, 0, 600_000),

  WORKER_MODE: z.enum(['inline', 'separate']).default('inline'),
  WORKER_CONCURRENCY: int(4, 1, 100),
  WORKER_POOL_SIZE: int(8, 2, 200),
  WORKER_POLL_INTERVAL_MS: int(2000, 10),
  WORKER_HEARTBEAT_MS: int(5000, 50),
  WORKER_STALE_MS: int(30_000, 200),
  WORKER_METRICS_PORT: int(0, 0, 65_535),
  JOB_BACKOFF_BASE_MS: int(2000, 0),
  JOB_BACKOFF_MAX_MS: int(3_600_000, 0),
  STORAGE_DIR: optionalString,
  STORAGE_BACKEND: z.enum(['local', 's3']).default('local'),
  S3_BUCKET: optionalString,
  S3_ENDPOINT: url(['http', 'https']),
  S3_REGION: optionalString,
  S3_ACCESS_KEY_ID: optionalString,
  S3_SECRET_ACCESS_KEY: optionalString,
  S3_FORCE_PATH_STYLE: bool(false),
  S3_KEY_PREFIX: z.string().trim().max(200).default(''),
  UPLOAD_MAX_BYTES: int(10 * 1024 * 1024, 1),
  SMTP_URL: url(['smtp', 'smtps']),
  MAIL_FROM: z.string().default('Postline <no-reply@postline.dev>'),
  MAIL_DIR: optionalString,
  ANALYTICS_DEBOUNCE_MS: int(5000, 0),
  ANALYTICS_CRONTAB: z.string().default('0 2 * * *'),

  SLOW_QUERY_MS: int(100, 0),
  RESOLVER_TIMING_SAMPLE_RATE: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const v = raw?.trim();
      if (v === undefined || v === '') return null;
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0 || n > 1) {
        ctx.addIssue({ code: 'custom', message: `must be a number from 0 to 1, got "${v}"` });
        return z.NEVER;
      }
      return n;
    }),
  SLOW_OPERATION_MS: int(500, 0),
  OTEL_EXPORTER_OTLP_ENDPOINT: url(['http', 'https']),
  OTEL_SERVICE_NAME: z.string().default('postline'),
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
  const corsOrigins = e.CORS_ORIGINS.split(',')
    .map((o) => o.trim().replace(/\/+$/, ''))
    .filter(Boolean);
  for (const origin of corsOrigins) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new ConfigError(
        `Invalid configuration:\n  CORS_ORIGINS: "${origin}" is not an origin such as https://app.example.com`,
      );
    }
  }
  if (e.RESPONSE_CACHE === 'redis' && !e.REDIS_URL) {
    throw new ConfigError('Invalid configuration:\n  RESPONSE_CACHE: "redis" needs REDIS_URL');
  }
  if (e.STORAGE_BACKEND === 's3' && !e.S3_BUCKET) {
    throw new ConfigError(
      'Invalid configuration:\n  S3_BUCKET: STORAGE_BACKEND "s3" needs S3_BUCKET',
    );
  }
  if (!e.S3_ACCESS_KEY_ID !== !e.S3_SECRET_ACCESS_KEY) {
    throw new ConfigError(
      'Invalid configuration:\n  S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY: set both, or neither (the AWS SDK then finds credentials itself)',
    );
  }
  const trustedDocuments = (e.TRUSTED_DOCUMENTS ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (e.TRUSTED_DOCUMENTS_ONLY && trustedDocuments.length === 0) {
    throw new ConfigError(
      'Invalid configuration:\n  TRUSTED_DOCUMENTS_ONLY: needs TRUSTED_DOCUMENTS (the manifest to allow)',
    );
  }
  if (production && trustedDocuments.length && e.TRUSTED_DOCUMENTS_ONLY === false) {
    throw new ConfigError(
      'Invalid configuration:\n  TRUSTED_DOCUMENTS_ONLY: cannot be false in production; unset TRUSTED_DOCUMENTS to accept any operation',
    );
  }
  const poolMax = e.DB_POOL_SIZE + e.DB_POOL_MAX_OVERFLOW;
  if (e.DB_POOL_MAX_PER_REQUEST > poolMax) {
    throw new ConfigError(
      `Invalid configuration:\n  DB_POOL_MAX_PER_REQUEST: must be at most DB_POOL_SIZE + DB_POOL_MAX_OVERFLOW (${poolMax}), got ${e.DB_POOL_MAX_PER_REQUEST}`,
    );
  }
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
    /** API processes on this host (node:cluster); 1: this process serves. */
    webConcurrency: e.WEB_CONCURRENCY,
    logLevel: e.LOG_LEVEL ?? (e.NODE_ENV === 'test' ? 'silent' : 'info'),
    databaseUrl: e.DATABASE_URL,
    /**
     * For what needs a server session of its own (migrations' advisory lock, LISTEN, job
     * runners): PostgreSQL directly or a session-mode pooler. Unset: DATABASE_URL.
     */
    sessionDatabaseUrl: e.DATABASE_SESSION_URL,
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
      prePingIdleMs: e.DB_POOL_PRE_PING_IDLE_MS,
      waitWarnMs: e.DB_POOL_WAIT_WARN_MS,
      saturationWarnS: e.DB_POOL_SATURATION_WARN_S,
      maxPerRequest:
        e.DB_POOL_MAX_PER_REQUEST || Math.min(poolMax, Math.max(2, Math.floor(poolMax / 8))),
      logEvents: !production,
    },
    /** Outside production a per-process secret is generated: tokens die with the process. */
    /** Named prepared statements: `auto` turns them off behind a transaction-mode pooler (src/db/pooler.ts). */
    preparedStatements: e.DB_PREPARED_STATEMENTS,
    jwtSecret: e.JWT_SECRET ?? randomBytes(32).toString('hex'),
    jwtTtlS: e.JWT_TTL_S,
    graphiql: e.GRAPHIQL && !production,
    /** Schema introspection; off in production unless INTROSPECTION=true. */
    introspection: e.INTROSPECTION ?? !production,
    /** "Did you mean ...?" in validation errors; off in production unless enabled. */
    suggestions: e.GRAPHQL_SUGGESTIONS ?? !production,
    /** Origins allowed to call with credentials (CORS); empty: no CORS headers at all. */
    corsOrigins,
    /** Strict-Transport-Security max-age (0: not sent); sent in production by default. */
    hstsMaxAgeS: e.HSTS_MAX_AGE_S ?? (production ? 15_552_000 : 0),
    limits: {
      /** Largest non-multipart request body. */
      bodyBytes: e.MAX_REQUEST_BODY_BYTES,
      /** Largest multipart body: one upload plus room for the operation and map parts. */
      multipartBytes: e.UPLOAD_MAX_BYTES + 64 * 1024,
    },
    /** /metrics: on METRICS_PORT only when set; else on the API port, behind METRICS_TOKEN in production. */
    metrics: { token: e.METRICS_TOKEN, port: e.METRICS_PORT || null },
    /** Token revocation and sign-in throttling (src/auth/); see README.md, "Sign-in, tokens and revocation". */
    auth: {
      recheckMs: e.AUTH_RECHECK_MS,
      trustProxyHops: e.TRUST_PROXY,
      throttle: {
        perAccount: e.LOGIN_MAX_FAILURES_PER_ACCOUNT,
        perAddress: e.LOGIN_MAX_FAILURES_PER_ADDRESS,
        windowMs: e.LOGIN_THROTTLE_WINDOW_S * 1000,
        redisUrl: e.REDIS_URL,
        redisPrefix: e.LOGIN_THROTTLE_REDIS_PREFIX,
      },
    },
    redisUrl: e.REDIS_URL,
    /** Response cache (src/cache/); see README.md, "Response cache". */
    cache: {
      mode: e.RESPONSE_CACHE ?? (e.REDIS_URL ? 'redis' : 'memory'),
      redisUrl: e.REDIS_URL,
      redisPrefix: e.CACHE_REDIS_PREFIX,
      ttlMs: {
        default: e.CACHE_TTL_S * 1000,
        post: e.CACHE_TTL_POST_S * 1000,
        project: e.CACHE_TTL_PROJECT_S * 1000,
        client: e.CACHE_TTL_CLIENT_S * 1000,
        dashboard: e.CACHE_TTL_DASHBOARD_S * 1000,
      },
      maxEntries: e.CACHE_MAX_ENTRIES,
      maxBytes: e.CACHE_MAX_BYTES,
      admitAfterMisses: e.CACHE_ADMIT_AFTER_MISSES,
      exposeMetadata: e.NODE_ENV === 'development',
    } as const,
    /** Persisted operations (src/persisted/); see README.md, "Persisted operations". */
    persisted: {
      apq: e.APQ,
      redisUrl: e.REDIS_URL,
      redisPrefix: e.APQ_REDIS_PREFIX,
      maxEntries: e.APQ_MAX_ENTRIES,
      maxBytes: e.APQ_MAX_BYTES,
      maxDocumentBytes: e.APQ_MAX_DOCUMENT_BYTES,
      ttlMs: e.APQ_TTL_S * 1000,
      trustedDocuments,
      /** Only trusted documents run: always in production when a manifest is configured. */
      trustedOnly: trustedDocuments.length > 0 && (production || e.TRUSTED_DOCUMENTS_ONLY === true),
    },
    /** Compile repeated operations with graphql-jit (src/execution/jit.ts). */
    jit: e.GRAPHQL_JIT,
    /** Checked before an operation runs (src/limits/); see README.md, "Query limits". */
    queryLimits: {
      depth: e.MAX_QUERY_DEPTH,
      cost: e.MAX_QUERY_COST,
      aliases: e.MAX_QUERY_ALIASES,
      tokens: e.MAX_QUERY_TOKENS,
      directives: e.MAX_QUERY_DIRECTIVES,
    },
    /** A query or mutation running longer is cancelled, its SQL too (0: no limit). */
    operationTimeoutMs: e.OPERATION_TIMEOUT_MS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    /** After SIGTERM, /ready answers 503 this long before the listener closes. */
    shutdownDrainMs: e.SHUTDOWN_DRAIN_MS ?? (production ? 5000 : 0),
    /** Background jobs (src/jobs/); see README.md, "Background jobs". */
    jobs: {
      mode: e.WORKER_MODE,
      concurrency: e.WORKER_CONCURRENCY,
      poolSize: Math.max(e.WORKER_POOL_SIZE, e.WORKER_CONCURRENCY + 2),
      pollIntervalMs: e.WORKER_POLL_INTERVAL_MS,
      heartbeatMs: e.WORKER_HEARTBEAT_MS,
      staleMs: Math.max(e.WORKER_STALE_MS, e.WORKER_HEARTBEAT_MS * 3),
      /** `npm run worker` serves GET /metrics on this port (0: not at all). */
      metricsPort: e.WORKER_METRICS_PORT,
      backoffBaseMs: e.JOB_BACKOFF_BASE_MS,
      backoffMaxMs: e.JOB_BACKOFF_MAX_MS,
      uploadMaxBytes: e.UPLOAD_MAX_BYTES,
      smtpUrl: e.SMTP_URL,
      mailFrom: e.MAIL_FROM,
      mailDir: e.MAIL_DIR ?? `${e.DATA_DIR}/mail`,
      analyticsDebounceMs: e.ANALYTICS_DEBOUNCE_MS,
      analyticsCrontab: e.ANALYTICS_CRONTAB,
    },
    /** Uploaded files (src/jobs/storage.ts); see README.md, "File uploads". */
    storage: {
      backend: e.STORAGE_BACKEND,
      dir: e.STORAGE_DIR ?? `${e.DATA_DIR}/storage`,
      s3: {
        bucket: e.S3_BUCKET ?? '',
        endpoint: e.S3_ENDPOINT,
        region: e.S3_REGION ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
        accessKeyId: e.S3_ACCESS_KEY_ID,
        secretAccessKey: e.S3_SECRET_ACCESS_KEY,
        forcePathStyle: e.S3_FORCE_PATH_STYLE,
        keyPrefix: e.S3_KEY_PREFIX,
      },
    },
    /** Statements and operations slower than these are logged as warnings (0 = log all). */
    slowQueryMs: e.SLOW_QUERY_MS,
    slowOperationMs: e.SLOW_OPERATION_MS,
    /** Share of operations whose traced resolvers are timed for the resolver histogram. */
    resolverSampleRate: e.RESOLVER_TIMING_SAMPLE_RATE ?? (production ? 0.05 : 1),
    /** OTLP/HTTP endpoint for spans (operations, resolvers, SQL); unset = no export. */
    otlpEndpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT,
    otelServiceName: e.OTEL_SERVICE_NAME,
  };
}

/** For process entry points: the configuration, or exit 78 with the ConfigError's message. */
export function loadConfigOrExit(env: Record<string, string | undefined> = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
}
