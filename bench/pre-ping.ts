/**
 * What the pool's pre-ping costs: the same sequential `SELECT 1` workload through one pooled
 * connection with the pre-ping on every checkout (DB_POOL_PRE_PING_IDLE_MS=0) and off.
 *
 *   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres node --import tsx bench/pre-ping.ts [iterations]
 */
import { loadConfig } from '../src/config.ts';
import { createPool } from '../src/db/pool.ts';

const url = process.env.DATABASE_URL;
if (!url) throw new Error('set DATABASE_URL');
const iterations = Number(process.argv[2] ?? 5000);

async function run(prePingIdleMs: number) {
  const { pool: settings } = loadConfig({ NODE_ENV: 'test', DATABASE_URL: url });
  const pool = createPool(url as string, { ...settings, size: 1, maxOverflow: 0, prePingIdleMs });
  await pool.warm();
  for (let i = 0; i < 200; i++) await pool.query('select 1'); // warm-up
  const times: number[] = [];
  const started = performance.now();
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    await pool.query('select 1');
    times.push(performance.now() - t0);
  }
  const total = performance.now() - started;
  const stats = pool.stats();
  await pool.end();
  times.sort((a, b) => a - b);
  const pct = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))] ?? 0;
  return {
    mode: prePingIdleMs === 0 ? 'pre-ping every checkout' : 'no pre-ping',
    meanMs: total / iterations,
    p50Ms: pct(0.5),
    p99Ms: pct(0.99),
    prePings: stats.prePings,
  };
}

const rows = [];
for (const round of [0, 1]) {
  rows.push({ round, ...(await run(1e9)) });
  rows.push({ round, ...(await run(0)) });
}
console.log(`node ${process.version}, ${iterations} sequential SELECT 1 per row`);
console.table(
  rows.map((r) => ({
    round: r.round,
    mode: r.mode,
    'mean ms': r.meanMs.toFixed(3),
    'p50 ms': r.p50Ms.toFixed(3),
    'p99 ms': r.p99Ms.toFixed(3),
    'pre-pings': r.prePings,
  })),
);
