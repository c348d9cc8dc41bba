/**
 * What re-planning costs PostgreSQL: captures the read engine's statements for the feed page, a
 * page after a cursor and a `node(id:)` lookup (run once through an in-process app on the
 * benchmark database), then replays each through `pg` from several connections, alternating
 * `plan_cache_mode = force_custom_plan` (a fresh plan on every execution, what a `LIMIT $n` or
 * `= ANY($1)` statement got before #13) with `auto` (PostgreSQL's choice, which for the engine's
 * statements is one generic plan per connection). Prints executions/s, PostgreSQL CPU per
 * execution (user + system time of the backends, from /proc: the server must be local) and the
 * plans PostgreSQL made (pg_prepared_statements).
 *
 *   node --import tsx bench/plan-cache.ts [--db postline_bench_1000000] [--clients 8] [--seconds 4] [--rounds 3]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createApp } from '../src/app.ts';
import { TokenService } from '../src/auth/tokens.ts';
import { loadConfig } from '../src/config.ts';
import { createPool } from '../src/db/pool.ts';
import { createPrisma } from '../src/db/prisma.ts';
import { createLogger } from '../src/observability/logger.ts';
import { setCursorSecret } from '../src/read/keyset.ts';
import { DEEP_PAGE, FEED, NODE } from './lib/queries.ts';

const { values } = parseArgs({
  options: {
    db: { type: 'string', default: 'postline_bench_1000000' },
    server: { type: 'string', default: 'postgresql://postgres@127.0.0.1:5432' },
    clients: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '3' },
  },
});
const url = `${values.server}/${values.db}`;
const clients = Number(values.clients);
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);

interface Captured {
  name: string;
  text: string;
  values: unknown[];
}

/** Runs the three operations once through the app and keeps the engine's named statements. */
async function capture(): Promise<Map<string, Captured>> {
  const config = loadConfig({
    NODE_ENV: 'production',
    JWT_SECRET: 'plan-cache-secret-plan-cache-secret-0123',
    METRICS_TOKEN: 'plan-cache-metrics-token',
    DATABASE_URL: url,
    RESPONSE_CACHE: 'off',
  });
  const pool = createPool(url, { ...config.pool, size: 2 });
  const prisma = createPrisma(pool);
  setCursorSecret(config.jwtSecret);
  const logger = createLogger('silent');
  const app = createApp({
    config,
    pool,
    prisma,
    tokens: new TokenService(config.jwtSecret, config.jwtTtlS),
    logger,
  });
  let shape = '';
  const captured = new Map<string, Captured>();
  const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
  (pool as unknown as { query: typeof query }).query = (...args: unknown[]) => {
    const cfg = args[0] as Partial<Captured> | undefined;
    if (shape && cfg?.name && cfg.text?.includes('json_agg') && !captured.has(shape)) {
      captured.set(shape, { name: cfg.name, text: cfg.text, values: cfg.values ?? [] });
    }
    return query(...args);
  };
  const gql = async (q: string, variables: Record<string, unknown>, token?: string) => {
    const res = await app.yoga.fetch('http://postline.bench/graphql', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify({ query: q, variables }),
    });
    const body = (await res.json()) as { data?: Record<string, any>; errors?: unknown[] };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data ?? {};
  };
  try {
    const login = await gql(
      'mutation($e: String!, $p: String!) { login(input: { email: $e, password: $p }) { token } }',
      { e: 'admin@postline.dev', p: 'postline-demo' },
    );
    const token = login.login.token as string;
    const far = await gql(
      '{ posts(first: 1, offset: 1000) { edges { cursor node { id } } } }',
      {},
      token,
    );
    shape = 'feed page';
    await gql(FEED, { status: 'PUBLISHED', platform: 'X', first: 20 }, token);
    shape = 'page after a cursor';
    await gql(DEEP_PAGE, { after: far.posts.edges[0].cursor, field: 'CREATED_AT' }, token);
    shape = 'node(id:)';
    await gql(NODE, { id: far.posts.edges[0].node.id }, token);
  } finally {
    app.metrics.stop();
    await app.profiling.stop();
    await app.services.auth?.close();
    await app.persisted.close();
    await prisma.$disconnect().catch(() => {});
    await pool.end().catch(() => {});
  }
  return captured;
}

const backendCpuMs = (pids: number[]) =>
  pids.reduce((sum, pid) => {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      return sum + (Number(f[11]) + Number(f[12])) * 10; // clock ticks of 10 ms
    } catch {
      return Number.NaN;
    }
  }, 0);

async function replay(statement: Captured, mode: 'force_custom_plan' | 'auto') {
  const conns: pg.Client[] = [];
  for (let i = 0; i < clients; i++) {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(`set plan_cache_mode = ${mode}`);
    conns.push(c);
  }
  try {
    const pids = await Promise.all(
      conns.map(
        async (c) => (await c.query('select pg_backend_pid() as pid')).rows[0].pid as number,
      ),
    );
    const run = { name: statement.name, text: statement.text, values: statement.values };
    for (const c of conns) for (let i = 0; i < 6; i++) await c.query(run); // past the first five plans
    let n = 0;
    let stop = false;
    const cpu0 = backendCpuMs(pids);
    const t0 = performance.now();
    const timer = setTimeout(() => (stop = true), seconds * 1000);
    await Promise.all(
      conns.map(async (c) => {
        while (!stop) {
          await c.query(run);
          n++;
        }
      }),
    );
    clearTimeout(timer);
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = backendCpuMs(pids) - cpu0;
    const plans = (
      await conns[0]!.query(
        'select generic_plans::int as generic, custom_plans::int as custom from pg_prepared_statements where name = $1',
        [statement.name],
      )
    ).rows[0] as { generic: number; custom: number } | undefined;
    return { perSecond: n / elapsed, cpuMs: cpu / n, plans };
  } finally {
    await Promise.all(conns.map((c) => c.end()));
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

const statements = await capture();
console.log(
  `${values.db}, ${clients} connections, ${rounds} alternating rounds of ${seconds} s per mode\n`,
);
console.log(
  '| statement | mode | executions/s | PostgreSQL CPU ms/execution | plans (generic · custom, one connection) |',
);
console.log('|---|---|---|---|---|');
for (const [shape, statement] of statements) {
  const results: Record<string, { perSecond: number[]; cpuMs: number[]; plans: string }> = {};
  for (let round = 0; round < rounds; round++) {
    const modes = ['force_custom_plan', 'auto'] as const;
    for (const mode of round % 2 ? [...modes].reverse() : modes) {
      const r = await replay(statement, mode);
      results[mode] ??= { perSecond: [], cpuMs: [], plans: '' };
      const slot = results[mode];
      slot.perSecond.push(r.perSecond);
      slot.cpuMs.push(r.cpuMs);
      slot.plans = r.plans ? `${r.plans.generic} · ${r.plans.custom}` : 'n/a';
    }
  }
  for (const [mode, r] of Object.entries(results)) {
    const label = mode === 'auto' ? 'auto (as served)' : 're-planned each time';
    console.log(
      `| ${shape} | ${label} | ${median(r.perSecond).toFixed(0)} | ${median(r.cpuMs).toFixed(3)} | ${r.plans} |`,
    );
  }
}
