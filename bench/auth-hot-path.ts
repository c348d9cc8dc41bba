/**
 * What token revocation adds to the hot path of an authenticated request.
 *
 * 1. `TokenService.verify` alone (a token verified before is a Map lookup; what main did),
 *    then `verify` followed by `AccountStatus.check` (the user's status read from PostgreSQL at
 *    most once per AUTH_RECHECK_MS): calls per second and nanoseconds per call.
 * 2. A whole request: `{ __typename }` with a bearer token through `yoga.fetch` (every plugin,
 *    no response cache), sequential: requests per second, and the status reads it caused.
 *
 * Uses a scratch database on the server (created, migrated, dropped).
 *
 *   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres node --import tsx bench/auth-hot-path.ts [seconds]
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createApp } from '../src/app.ts';
import { AccountStatus } from '../src/auth/accounts.ts';
import { hashPassword } from '../src/auth/passwords.ts';
import { TokenService } from '../src/auth/tokens.ts';
import { loadConfig } from '../src/config.ts';
import { quoteIdent } from '../src/db/embedded.ts';
import { applyMigrations } from '../src/db/migrations.ts';
import { createPool } from '../src/db/pool.ts';
import { createPrisma } from '../src/db/prisma.ts';
import { onStatement } from '../src/db/query-log.ts';
import { createLogger } from '../src/observability/logger.ts';

const serverUrl = process.env.DATABASE_URL;
if (!serverUrl) throw new Error('set DATABASE_URL (a server where a scratch database may be made)');
const seconds = Number(process.argv[2] ?? 2);
const ROUNDS = 3;

const name = `postline_bench_auth_${randomUUID().slice(0, 8)}`;
const admin = new pg.Client({ connectionString: serverUrl });
await admin.connect();
await admin.query(`CREATE DATABASE ${quoteIdent(name)}`);
const url = new URL(serverUrl);
url.pathname = `/${name}`;
const dbUrl = url.toString();

interface Rate {
  /** Calls per wall-clock second. */
  perS: number;
  /** CPU time (user + system) of this process per call: steadier than wall time on a busy machine. */
  cpuNs: number;
}

/** Runs `fn` repeatedly for `seconds`. */
async function rate(fn: () => unknown, batch = 1000): Promise<Rate> {
  for (let i = 0; i < 2000; i++) await fn(); // warm-up
  let n = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const end = started + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < batch; i++) await fn();
    n += batch;
  }
  const used = process.cpuUsage(cpu);
  return {
    perS: n / ((performance.now() - started) / 1000),
    cpuNs: ((used.user + used.system) * 1000) / n,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const summary = (measure: string, rates: Rate[]) => ({
  measure,
  'calls/s': median(rates.map((r) => r.perS)).toFixed(0),
  'wall ns/call': (1e9 / median(rates.map((r) => r.perS))).toFixed(0),
  'CPU ns/call': median(rates.map((r) => r.cpuNs)).toFixed(0),
});

try {
  await applyMigrations(dbUrl);
  const config = loadConfig({
    NODE_ENV: 'production',
    JWT_SECRET: 'auth-bench-secret-that-is-long-enough-0123456789',
    DATABASE_URL: dbUrl,
    RESPONSE_CACHE: 'off',
    LOG_LEVEL: 'silent',
  });
  const pool = createPool(dbUrl, { ...config.pool, size: 4, maxOverflow: 0 });
  await pool.warm();
  await pool.query(
    `INSERT INTO users (email, name, password_hash, role, updated_at)
     VALUES ('bench@postline.dev', 'Bench', $1, 'ADMIN', now())`,
    [await hashPassword('bench-password')],
  );
  const tokens = new TokenService(config.jwtSecret, config.jwtTtlS);
  const app = createApp({
    config,
    pool,
    prisma: createPrisma(pool),
    tokens,
    logger: createLogger('silent'),
  });
  const login = await app.yoga.fetch('http://bench/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query:
        'mutation { login(input: { email: "bench@postline.dev", password: "bench-password" }) { token } }',
    }),
  });
  const token = ((await login.json()) as { data: { login: { token: string } } }).data.login.token;

  let reads = 0;
  const stop = onStatement((record) => {
    if (/token_version/.test(record.sql)) reads += 1;
  });
  const accounts = new AccountStatus(pool, config.auth.recheckMs);
  const before: Rate[] = [];
  const after: Rate[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    before.push(
      await rate(async () => {
        const claims = await tokens.verify(token);
        if (!claims) throw new Error('token refused');
      }),
    );
    after.push(
      await rate(async () => {
        const claims = await tokens.verify(token);
        if (!claims || !(await accounts.check(claims))) throw new Error('token refused');
      }),
    );
  }
  const rows = [summary('verify()', before), summary('verify() + check()', after)];

  const request = async () => {
    const res = await app.yoga.fetch('http://bench/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: '{"query":"{ __typename }"}',
    });
    await res.text();
  };
  const requests: Rate[] = [];
  reads = 0;
  const started = performance.now();
  for (let round = 0; round < ROUNDS; round++) requests.push(await rate(request, 100));
  const elapsedS = (performance.now() - started) / 1000;
  rows.push(summary('{ __typename } request with token', requests));
  stop();
  const cpu = (rates: Rate[]) => median(rates.map((r) => r.cpuNs));
  console.log(
    `node ${process.version}; AUTH_RECHECK_MS=${config.auth.recheckMs}; median of ${ROUNDS} rounds of ${seconds} s`,
  );
  console.table(rows);
  console.log(
    `check() adds ${(cpu(after) - cpu(before)).toFixed(0)} ns of CPU per call ` +
      `(${(((cpu(after) - cpu(before)) / cpu(requests)) * 100).toFixed(2)}% of a { __typename } request's CPU)`,
  );
  console.log(
    `${elapsedS.toFixed(1)} s of requests caused ${reads} status reads (one per ${config.auth.recheckMs} ms at most)`,
  );
  app.metrics.stop();
  await app.profiling.stop();
  await app.services.auth?.close();
  await pool.end();
} finally {
  await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  await admin.end();
}
