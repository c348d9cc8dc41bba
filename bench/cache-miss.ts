/**
 * What a response-cache miss costs, measured inside one process: two Yoga apps over the same
 * pool and database — A with the settings given by --a, B with those of --b (by default the
 * cache off against the in-memory cache) — answer lookups of random posts (nearly every one a
 * miss) in alternating batches, and the process's CPU time (`process.cpuUsage`) is read around
 * each batch. Both apps share the process, its JIT and GC, and the machine's moment, so the
 * per-batch ratios hold on a noisy shared host, where two servers measured one after the other
 * (or side by side) differ by 10–30% from run to run. No HTTP server is involved: parsing the
 * HTTP request and writing the response cost the same with the cache on or off.
 *
 *   node --import tsx bench/cache-miss.ts --db postline_bench_1000000 --random-ids 1000000 \
 *     [--a RESPONSE_CACHE=off] [--b RESPONSE_CACHE=memory] [--batches 40] [--batch 200] [--concurrency 8]
 */
import { parseArgs } from 'node:util';
import { createApp } from '../src/app.ts';
import { TokenService } from '../src/auth/tokens.ts';
import { loadConfig } from '../src/config.ts';
import { createPool } from '../src/db/pool.ts';
import { createPrisma } from '../src/db/prisma.ts';
import { createLogger } from '../src/observability/logger.ts';
import { setCursorSecret } from '../src/read/keyset.ts';
import { NODE } from './lib/queries.ts';

const { values } = parseArgs({
  options: {
    db: { type: 'string', default: 'postline_bench_50000' },
    'random-ids': { type: 'string', default: '50000' },
    a: { type: 'string', multiple: true, default: ['RESPONSE_CACHE=off'] },
    b: { type: 'string', multiple: true, default: ['RESPONSE_CACHE=memory'] },
    batches: { type: 'string', default: '40' },
    batch: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '8' },
  },
});

const envOf = (list: string[]) =>
  Object.fromEntries(list.map((kv) => kv.split(/=(.*)/s).slice(0, 2)));
const url = `postgresql://postgres@127.0.0.1:5432/${values.db}`;
const secret = 'cache-miss-bench-secret-cache-miss-bench-0123';
const base = {
  NODE_ENV: 'production',
  DATABASE_URL: url,
  JWT_SECRET: secret,
  METRICS_TOKEN: 'cache-miss-bench-metrics',
  WORKER_MODE: 'separate',
  SEED_ON_START: 'false',
};
const logger = createLogger('error');
const common = loadConfig(base);
const pool = createPool(url, { ...common.pool, size: 10, maxOverflow: 0 }, logger);
await pool.warm();
const prisma = createPrisma(pool);
setCursorSecret(secret);
const tokens = new TokenService(secret, common.jwtTtlS);
const apps = {
  A: createApp({
    config: loadConfig({ ...base, ...envOf(values.a ?? []) }),
    pool,
    prisma,
    tokens,
    logger,
  }),
  B: createApp({
    config: loadConfig({ ...base, ...envOf(values.b ?? []) }),
    pool,
    prisma,
    tokens,
    logger,
  }),
};

async function post(side: 'A' | 'B', body: unknown, token?: string) {
  const res = await apps[side].yoga.fetch('http://postline.bench/graphql', {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });
  return (await res.json()) as { data?: any; errors?: unknown[] };
}

const login = await post('A', {
  query:
    'mutation($e: String!, $p: String!) { login(input: { email: $e, password: $p }) { token } }',
  variables: { e: 'admin@postline.dev', p: 'postline-demo' },
});
const token = login.data?.login.token as string;
const maxId = Number(values['random-ids']);

async function batch(side: 'A' | 'B', size: number): Promise<void> {
  let left = size;
  const worker = async () => {
    while (left-- > 0) {
      const id = Buffer.from(`Post:${1 + Math.floor(Math.random() * maxId)}`).toString('base64url');
      const json = await post(side, { query: NODE, variables: { id } }, token);
      if (json.errors) throw new Error(`${side}: ${JSON.stringify(json.errors)}`);
    }
  };
  await Promise.all(Array.from({ length: Number(values.concurrency) }, worker));
}

const size = Number(values.batch);
// Warm-up: both apps' code paths compiled, statements prepared.
for (let i = 0; i < 5; i++) {
  await batch('A', size);
  await batch('B', size);
}
const cpu: Record<'A' | 'B', number[]> = { A: [], B: [] };
for (let i = 0; i < Number(values.batches); i++) {
  for (const side of i % 2 === 0 ? (['A', 'B'] as const) : (['B', 'A'] as const)) {
    const before = process.cpuUsage();
    await batch(side, size);
    const used = process.cpuUsage(before);
    cpu[side].push((used.user + used.system) / 1000 / size);
  }
}
const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const ratios = cpu.A.map((a, i) => (cpu.B[i] as number) / a);
const describe = (list: string[]) => list.join(' ') || 'defaults';
process.stdout.write(
  `random node lookups over ${maxId} posts, ${values.batches} alternating batches of ${size}, concurrency ${values.concurrency}, Node ${process.version}\n` +
    `A (${describe(values.a ?? [])}): ${median(cpu.A).toFixed(3)} ms CPU/request (median of batches)\n` +
    `B (${describe(values.b ?? [])}): ${median(cpu.B).toFixed(3)} ms\n` +
    `B/A by batch: median ${median(ratios).toFixed(3)}x, B lower in ${ratios.filter((r) => r < 1).length} of ${ratios.length}; ` +
    `quartiles ${[...ratios].sort((x, y) => x - y)[Math.floor(ratios.length / 4)]?.toFixed(3)}–${[...ratios].sort((x, y) => x - y)[Math.floor((3 * ratios.length) / 4)]?.toFixed(3)}\n`,
);
await apps.A.cache?.close();
await apps.B.cache?.close();
await prisma.$disconnect();
await pool.end();
