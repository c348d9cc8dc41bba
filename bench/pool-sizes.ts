/**
 * The pool-size table of issue 4: `feed` and `mixed` at 16 and 64 connections against Postline
 * started with different DB_POOL_SIZE / DB_POOL_MAX_OVERFLOW, response cache off (the cache
 * would hide the pool). Prints the table and writes it to BENCHMARKS.md (section "pool sizes").
 *
 *   node --import tsx bench/pool-sizes.ts [--quick] [--posts N] [--pools 5,10,20,20+20,20+40]
 *     [--connections 16,64] [--scenarios feed,mixed] [--duration S] [--warmup S] [--no-write]
 *
 * A pool is `SIZE` (no overflow) or `SIZE+OVERFLOW`. Uses the shared harness in bench/lib.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { cleanupAll, installSignalHandlers, onCleanup } from './lib/cleanup.ts';
import { prepareDatabase } from './lib/database.ts';
import { deepPageCursors, login, mixedFixture } from './lib/fixtures.ts';
import { LoadGenerator } from './lib/load-client.ts';
import { machine } from './lib/machine.ts';
import { measure, type RunRecord } from './lib/measure.ts';
import { fmt, writeMarkdown } from './lib/report.ts';
import { newJwtSecret, startServer } from './lib/server.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const t0 = performance.now();
const log = (line: string) =>
  process.stdout.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);

interface PoolShape {
  label: string;
  size: number;
  overflow: number;
}

function parsePool(raw: string): PoolShape {
  const m = /^(\d+)(?:\+(\d+))?$/.exec(raw.trim());
  if (!m) throw new Error(`--pools: "${raw}" is not SIZE or SIZE+OVERFLOW`);
  const size = Number(m[1]);
  const overflow = Number(m[2] ?? 0);
  return {
    label: overflow ? `${size}+${overflow} (max ${size + overflow})` : `${size}`,
    size,
    overflow,
  };
}

const list = (raw: string) =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

async function main() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      posts: { type: 'string' },
      pools: { type: 'string', default: '5,10,20,20+20,20+40' },
      connections: { type: 'string', default: '16,64' },
      scenarios: { type: 'string', default: 'feed,mixed' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      'no-write': { type: 'boolean', default: false },
    },
  });
  const quick = values.quick ?? false;
  const posts = Number(values.posts ?? (quick ? 50_000 : 1_000_000));
  const pools = list(values.pools as string).map(parsePool);
  const connections = list(values.connections as string).map(Number);
  const scenarios = list(values.scenarios as string);
  for (const s of scenarios) {
    if (s !== 'feed' && s !== 'mixed')
      throw new Error(`--scenarios: feed and/or mixed, got "${s}"`);
  }
  const durationS = Number(values.duration ?? (quick ? 3 : 10));
  const warmupS = Number(values.warmup ?? (quick ? 1 : 3));
  installSignalHandlers();

  const db = await prepareDatabase({ posts, log });
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  onCleanup('harness pool', () => pool.end());
  const jwtSecret = newJwtSecret();
  const load = new LoadGenerator();
  const cursors = scenarios.includes('mixed')
    ? (
        await deepPageCursors(pool, {
          posts,
          jwtSecret,
          fields: ['CREATED_AT'],
          offsetRuns: 0,
        })
      ).map((c) => c.cursor)
    : [];

  const rows: { pool: PoolShape; run: RunRecord }[] = [];
  for (const shape of pools) {
    const server = await startServer({
      databaseUrl: db.url,
      jwtSecret,
      env: {
        RESPONSE_CACHE: 'off',
        DB_POOL_SIZE: String(shape.size),
        DB_POOL_MAX_OVERFLOW: String(shape.overflow),
      },
    });
    log(`Postline with pool ${shape.label} (pid ${server.pid})`);
    try {
      const admin = await login(server.baseUrl, 'admin@postline.dev');
      for (const scenario of scenarios) {
        const setup =
          scenario === 'mixed'
            ? await mixedFixture(pool, server.baseUrl, {
                clientUsers: 8,
                hotPostsPerClient: 12,
                cursors,
              })
            : null;
        try {
          for (const c of connections) {
            const run = await measure({
              load,
              request: {
                target: server.baseUrl,
                connections: c,
                warmupS,
                durationS,
                workload: setup
                  ? { kind: 'mixed', mixed: setup.fixture }
                  : { kind: 'feed', token: admin.token },
              },
              server,
              scenario,
              variant: `pool ${shape.label}`,
              cache: 'off',
            });
            rows.push({ pool: shape, run });
            log(
              `  ${scenario.padEnd(6)} c=${String(c).padEnd(3)} ${fmt(run.rps, 0).padStart(6)} req/s` +
                `  p95 ${fmt(run.load.latency.p95, 1)} ms  acquire p99 ${fmt(run.server?.acquireWaitP99Ms, 2)} ms` +
                `  utilization ${fmt((run.server?.poolUtilization ?? Number.NaN) * 100, 0)}%` +
                `  errors ${fmt(run.errorRate * 100, 2)}%`,
            );
          }
        } finally {
          await setup?.restore();
        }
      }
    } finally {
      await server.stop();
    }
  }
  await load.stop();

  const m = machine();
  const header =
    '| pool (DB_POOL_SIZE+OVERFLOW) | scenario | connections | req/s | p95 ms | acquire wait p99 ms | mean utilization | in use max | waiting max | errors |';
  const lines = [
    '## Pool sizes',
    '',
    `\`node --import tsx bench/pool-sizes.ts${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}\`` +
      ` on ${new Date().toISOString()}: ${posts.toLocaleString('en')} posts, response cache off,` +
      ` ${durationS} s measured after ${warmupS} s warm-up per row. Machine: ${m.cpus} CPUs (${m.cpuModel}), ${m.memoryGb} GB, Node ${m.node}.`,
    '',
    header,
    `|${header
      .split('|')
      .slice(1, -1)
      .map(() => '---')
      .join('|')}|`,
    ...rows.map(({ pool: p, run: r }) =>
      [
        '',
        p.label,
        r.scenario,
        r.connections,
        fmt(r.rps, 0),
        fmt(r.load.latency.p95, 1),
        fmt(r.server?.acquireWaitP99Ms, 2),
        r.server?.poolUtilization == null ? '–' : `${fmt(r.server.poolUtilization * 100, 0)}%`,
        fmt(r.server?.poolInUseMax, 0),
        fmt(r.server?.poolWaitingMax, 0),
        `${fmt(r.errorRate * 100, 2)}%`,
        '',
      ]
        .join(' | ')
        .trim(),
    ),
  ];
  const section = lines.join('\n');
  process.stdout.write(`\n${section}\n\n`);
  if (!values['no-write']) {
    await writeMarkdown(path.join(root, 'BENCHMARKS.md'), 'pool sizes', section);
    log('Wrote BENCHMARKS.md (section "pool sizes")');
  }
}

main()
  .catch((err: unknown) => {
    process.stderr.write(
      `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : err}\n`,
    );
    process.exitCode = 1;
  })
  .finally(() => cleanupAll());
