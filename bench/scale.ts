/**
 * `npm run bench:scale`: the feed and mixed scenarios through HAProxy (bench/lib/cluster.ts)
 * with 1 and 2 API instances, and 1 instance with WEB_CONCURRENCY=2, each with the API
 * connecting to PostgreSQL directly and through PgBouncer (transaction mode, prepared
 * statements off). Figures per run: req/s and p95 at the load generator, and CPU per request:
 * the CPU time of every API process (each instance's process group, from /proc) in the
 * measured window over the requests completed in it; the proxies' (HAProxy + PgBouncer) beside.
 * Writes the "Scale-out" section of BENCHMARKS.md (unless --no-write).
 *
 *   npm run bench:scale -- [--posts 50000] [--duration 15] [--warmup 4] [--connections 32]
 *                          [--rounds 1] [--no-write]
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { cleanupAll, installSignalHandlers, onCleanup, wasInterrupted } from './lib/cleanup.ts';
import { type Cluster, missingPrograms, programVersions, startCluster } from './lib/cluster.ts';
import { prepareDatabase } from './lib/database.ts';
import { login, mixedFixture } from './lib/fixtures.ts';
import { LoadGenerator } from './lib/load-client.ts';
import { loadAverage, machine } from './lib/machine.ts';
import { fmt, writeMarkdown } from './lib/report.ts';
import { newJwtSecret } from './lib/server.ts';
import type { LoadResult, Workload } from './lib/types.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const t0 = performance.now();
const log = (line: string) =>
  process.stdout.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);

interface Topology {
  label: string;
  instances: number;
  webConcurrency?: number;
  direct: boolean;
}

interface Row {
  topology: string;
  pool: string;
  scenario: string;
  round: number;
  rps: number;
  p95: number;
  apiCpuMs: number | null;
  proxyCpuMs: number | null;
  errors: number;
  requests: number;
  errorSamples: string[];
}

function intOption(raw: string | undefined, def: number, what: string): number {
  if (raw === undefined) return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${what}: a positive number, got "${raw}"`);
  return n;
}

async function main() {
  const { values } = parseArgs({
    options: {
      posts: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      rounds: { type: 'string' },
      'no-write': { type: 'boolean', default: false },
    },
  });
  const posts = intOption(values.posts, 50_000, '--posts');
  const durationS = intOption(values.duration, 15, '--duration');
  const warmupS = intOption(values.warmup, 4, '--warmup');
  const connections = intOption(values.connections, 32, '--connections');
  const rounds = intOption(values.rounds, 1, '--rounds');
  const missing = missingPrograms();
  if (missing.length) {
    throw new Error(
      `${missing.join(' and ')} not installed: apt-get install -y ${missing.join(' ')}`,
    );
  }
  installSignalHandlers();
  const date = new Date().toISOString();
  const loadAtStart = loadAverage();
  const versions = programVersions();

  const db = await prepareDatabase({ posts, log, prefix: 'postline_cluster' });
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  onCleanup('harness pool', () => pool.end(), { last: true });
  const load = new LoadGenerator();
  const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
  // One secret for every cluster of the run: the fixtures' tokens (signed in once) stay valid.
  const jwtSecret = newJwtSecret();

  // WEB_CONCURRENCY arrives with the cluster mode of src/server.ts (issue #15).
  const { readFile } = await import('node:fs/promises');
  const hasWebConcurrency = (await readFile(path.join(root, 'src/config.ts'), 'utf8')).includes(
    'WEB_CONCURRENCY',
  );
  const shapes: Omit<Topology, 'direct'>[] = [
    { label: '1 instance', instances: 1 },
    { label: '2 instances', instances: 2 },
    ...(hasWebConcurrency
      ? [{ label: '1 instance, WEB_CONCURRENCY=2', instances: 1, webConcurrency: 2 }]
      : []),
  ];
  if (!hasWebConcurrency) log('WEB_CONCURRENCY is not in src/config.ts yet: that row is left out.');
  const topologies: Topology[] = shapes.flatMap((s) => [
    { ...s, direct: true },
    { ...s, direct: false },
  ]);

  const rows: Row[] = [];
  for (let round = 1; round <= rounds; round++) {
    // Later rounds run the topologies in reverse, so drift on the machine hits both ends.
    const order = round % 2 ? topologies : [...topologies].reverse();
    for (const topo of order) {
      log(`${topo.label}, ${topo.direct ? 'direct' : 'PgBouncer'}: starting...`);
      const cluster = await startCluster({
        databaseUrl: db.url,
        redisUrl,
        instances: topo.instances,
        workers: 0,
        jwtSecret,
        direct: topo.direct,
        ...(topo.webConcurrency ? { webConcurrency: topo.webConcurrency } : {}),
      });
      let restore: (() => Promise<void>) | null = null;
      try {
        const admin = await login(cluster.lbUrl, 'admin@postline.dev', true);
        const setup = await mixedFixture(pool, cluster.lbUrl, {
          clientUsers: 8,
          hotPostsPerClient: 12,
          cursors: [],
        });
        restore = setup.restore;
        const workloads: [string, Workload][] = [
          ['feed', { kind: 'feed', token: admin.token }],
          ['mixed', { kind: 'mixed', mixed: setup.fixture }],
        ];
        for (const [scenario, workload] of workloads) {
          const row = await measureRun(cluster, load, {
            scenario,
            workload,
            connections,
            durationS,
            warmupS,
          });
          const full: Row = {
            topology: topo.label,
            pool: topo.direct ? 'direct' : 'PgBouncer',
            round,
            ...row,
          };
          rows.push(full);
          log(
            `  ${scenario.padEnd(6)} ${fmt(full.rps, 0).padStart(6)} req/s  p95 ${fmt(full.p95, 1)} ms  API CPU ${fmt(full.apiCpuMs, 2)} ms/req  proxies ${fmt(full.proxyCpuMs, 2)} ms/req  errors ${full.errors}${full.errors ? ` (${full.errorSamples.slice(0, 2).join('; ')})` : ''}`,
          );
        }
      } finally {
        await cluster.stop();
        await restore?.();
      }
    }
  }
  await load.stop();

  const m = machine();
  const section = [
    '## Scale-out (`npm run bench:scale`)',
    '',
    `- Command: \`npm run bench:scale -- ${process.argv.slice(2).join(' ')}\``.replace(
      ' -- `',
      '`',
    ),
    `- Date: ${date}`,
    `- Machine: ${m.cpus} CPUs (\`nproc\`), ${m.cpuModel}, ${m.memoryGb} GB RAM; Node ${m.node}; ${Object.values(versions).join('; ')}. The machine is shared with other jobs and noisy (load average ${loadAtStart} at the start, ${loadAverage()} at the end): compare rows of one run, and CPU per request more than req/s.`,
    `- Data: ${posts.toLocaleString('en')} posts in \`${db.name}\`; response cache in Redis; ${connections} connections through HAProxy (round robin); ${durationS} s measured after ${warmupS} s warm-up${rounds > 1 ? `; ${rounds} rounds, alternating order` : ''}.`,
    '- API CPU: user + system time of every API process (forked ones included) from /proc in the window, per request; proxies: HAProxy + PgBouncer the same way.',
    '',
    '| scenario | topology | database | req/s | p95 ms | API CPU ms/req | proxies CPU ms/req | errors |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...['feed', 'mixed'].flatMap((scenario) =>
      rows
        .filter((r) => r.scenario === scenario)
        .map(
          (r) =>
            `| ${r.scenario} | ${r.topology} | ${r.pool} | ${fmt(r.rps, 0)} | ${fmt(r.p95, 1)} | ${fmt(r.apiCpuMs, 2)} | ${fmt(r.proxyCpuMs, 2)} | ${r.errors}/${r.requests} |`,
        ),
    ),
  ].join('\n');
  process.stdout.write(`\n${section}\n\n`);
  if (!values['no-write']) {
    await writeMarkdown(path.join(root, 'BENCHMARKS.md'), 'scale-out', section);
    log('Wrote the "Scale-out" section of BENCHMARKS.md');
  }
}

async function measureRun(
  cluster: Cluster,
  load: LoadGenerator,
  opts: {
    scenario: string;
    workload: Workload;
    connections: number;
    durationS: number;
    warmupS: number;
  },
) {
  let api0 = 0;
  let proxy0 = 0;
  let api = 0;
  let proxy = 0;
  const result: LoadResult = await load.run(
    {
      target: cluster.lbUrl,
      connections: opts.connections,
      warmupS: opts.warmupS,
      durationS: opts.durationS,
      workload: opts.workload,
    },
    {
      onWarm: () => {
        api0 = cluster.apiCpuSeconds();
        proxy0 = cluster.proxyCpuSeconds();
      },
      onEnd: () => {
        api = cluster.apiCpuSeconds() - api0;
        proxy = cluster.proxyCpuSeconds() - proxy0;
      },
    },
  );
  const errors = result.non2xx + result.graphqlErrors + result.transportErrors + result.timeouts;
  const per = (s: number) => (result.requests ? (s * 1000) / result.requests : null);
  return {
    scenario: opts.scenario,
    rps: result.requests / result.durationS,
    p95: result.latency.p95,
    apiCpuMs: per(api),
    proxyCpuMs: per(proxy),
    errors,
    requests: result.requests,
    errorSamples: result.errorSamples,
  };
}

main()
  .catch((err: unknown) => {
    if (wasInterrupted()) return;
    process.stderr.write(
      `bench:scale failed: ${err instanceof Error ? (err.stack ?? err.message) : err}\n`,
    );
    process.exitCode = 1;
  })
  .finally(() => cleanupAll());
