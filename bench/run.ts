/**
 * `npm run bench`: Postline's performance figures, measured the same way every time.
 *
 * Prepares the benchmark database, starts Postline as a production process (once per
 * response-cache mode, on the Node `--node` picks, compiled when the package has a build
 * script), drives each scenario at each connection level from a separate load process,
 * measures the baselines in the same run, and writes BENCHMARKS.md, bench/results/<timestamp>.json
 * and SVG charts. `--compare <ref>` runs the before/after mode instead (bench/lib/compare.ts).
 * Exits non-zero only when the harness itself fails, never because of speed. See the
 * "Benchmarks" section of README.md.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { loadConfig } from '../src/config.ts';
import { writeCharts } from './lib/charts.ts';
import { cleanupAll, installSignalHandlers, onCleanup, wasInterrupted } from './lib/cleanup.ts';
import { runCompare } from './lib/compare.ts';
import { prepareDatabase } from './lib/database.ts';
import {
  catalog,
  type DeepPageCursor,
  deepestCreatedAt,
  deepPageCursors,
  login,
  mixedFixture,
  POST_ORDERS,
  type PostOrderField,
} from './lib/fixtures.ts';
import { LoadGenerator } from './lib/load-client.ts';
import { loadAverage, machine } from './lib/machine.ts';
import { measure, type RunRecord } from './lib/measure.ts';
import { type CacheMode, type Options, parseOptions } from './lib/options.ts';
import { statementsByPageSize } from './lib/probes.ts';
import {
  deepVariant,
  fmt,
  markdown,
  type PageSizeProbe,
  type Report,
  writeJson,
  writeMarkdown,
} from './lib/report.ts';
import { describeLaunch, prepareLaunch, resolveNode } from './lib/runtime.ts';
import {
  newJwtSecret,
  primeTypename,
  type RunningServer,
  startBareYoga,
  startServer,
} from './lib/server.ts';
import { evaluateTargets } from './lib/targets.ts';
import type { SqlWorkload, Workload } from './lib/types.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const t0 = performance.now();
const log = (line: string) =>
  process.stdout.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);

function describe(r: RunRecord): string {
  const l = r.load;
  const extra = r.scenario === 'mixed' ? `, stale ${l.staleReads ?? 0}/${l.checks ?? 0}` : '';
  return (
    `  ${r.scenario.padEnd(9)} ${r.variant.padEnd(22)} cache ${r.cache.padEnd(3)} c=${String(r.connections).padEnd(3)}` +
    ` ${fmt(r.rps, 0).padStart(7)} req/s  p50 ${fmt(l.latency.p50, 2)}  p95 ${fmt(l.latency.p95, 2)}  p99 ${fmt(l.latency.p99, 2)} ms` +
    `  CPU ${fmt(r.cpu?.msPerRequest, 3)} ms/req  errors ${fmt(r.errorRate * 100, 2)}%  SQL/req ${fmt(r.server?.sqlPerRequest, 2)}${extra}`
  );
}

/** The raw SQL baseline gets the connection budget Postline's pool has. */
function sqlPoolSize(server: RunningServer): number {
  try {
    const { pool } = loadConfig(server.env);
    return pool.size + pool.maxOverflow;
  } catch {
    return 20;
  }
}

/** The server env for a cache mode: `off`, or the store given with --env (default memory). */
function cacheEnv(options: Options, cache: CacheMode): Record<string, string> {
  const chosen = options.serverEnv.RESPONSE_CACHE;
  const on = chosen && chosen !== 'off' ? chosen : 'memory';
  return { ...options.serverEnv, RESPONSE_CACHE: cache === 'off' ? 'off' : on };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  installSignalHandlers();
  if (options.compare) return runCompare(options, log);
  const started = performance.now();
  const date = new Date().toISOString();
  const loadAtStart = loadAverage();

  const node = await resolveNode(options.node, log);
  if (node.note) log(`Note: ${node.note}`);
  const launch = await prepareLaunch(root, { build: options.build, log });
  log(`Servers run on Node ${node.version} (${node.source}); Postline ${describeLaunch(launch)}.`);

  const db = await prepareDatabase({ posts: options.posts, log });
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  onCleanup('harness pool', () => pool.end(), { last: true });
  const jwtSecret = newJwtSecret();
  const load = new LoadGenerator();
  const data = await catalog(pool);

  const start = (cache: CacheMode) =>
    startServer({ databaseUrl: db.url, jwtSecret, env: cacheEnv(options, cache), node, launch });
  // Quick and smoke runs start the first server while the cursors are built (it saves a
  // server start-up); full runs keep the OFFSET timings free of that noise.
  const firstMode = options.cacheModes[0] ?? 'off';
  let early: Promise<RunningServer> | null = null;
  if (options.quick || options.smoke) {
    early = start(firstMode);
    early.catch(() => {});
  }

  const wantDeep = options.scenarios.includes('deep-page');
  const wantMixed = options.scenarios.includes('mixed');
  let deep: DeepPageCursor[] = [];
  let mixedCursors: string[] = [];
  if (wantDeep || wantMixed) {
    const fields = (wantDeep ? Object.keys(POST_ORDERS) : ['CREATED_AT']) as PostOrderField[];
    log(`Building deep-page cursors${wantDeep ? ' and timing the same pages by OFFSET' : ''}...`);
    const cursors = await deepPageCursors(pool, {
      posts: options.posts,
      jwtSecret,
      fields,
      offsetRuns: wantDeep ? options.offsetRuns : 0,
      endsOnly: options.deepPageEndsOnly,
    });
    if (wantDeep) deep = cursors;
    mixedCursors = cursors.filter((c) => c.field === 'CREATED_AT').map((c) => c.cursor);
  }

  const baselines: RunRecord[] = [];
  const runs: RunRecord[] = [];
  let pageSizes: PageSizeProbe[] = [];
  const record = (list: RunRecord[], r: RunRecord) => {
    list.push(r);
    log(describe(r));
  };

  const defaults = [options.durationS, options.warmupS] as const;
  let cacheMiss: Report['cacheMiss'];
  /**
   * The cost of a cache miss, paired: the node scenario's server with the cache on against a
   * second server with it off, alternating runs, so the ratio is not the machine's drift
   * between the off and on passes (minutes apart).
   */
  const pairedCacheMiss = async (on: RunningServer, workload: Workload) => {
    const connections = options.connections.includes(16) ? 16 : Math.max(...options.connections);
    const off = await start('off');
    log(
      `Cache miss, paired (cache off: pid ${off.pid}; on: pid ${on.pid}), ${connections} connections:`,
    );
    const pair: { connections: number; off: RunRecord[]; on: RunRecord[] } = {
      connections,
      off: [],
      on: [],
    };
    try {
      const offToken = (await login(off.baseUrl, 'admin@postline.dev')).token;
      const sides = [
        { server: off, list: pair.off, cache: 'off' as const, token: offToken },
        {
          server: on,
          list: pair.on,
          cache: 'on' as const,
          token: (workload as { token: string }).token,
        },
      ];
      const once = (side: (typeof sides)[number]) =>
        measure({
          load,
          request: {
            target: side.server.baseUrl,
            connections,
            warmupS: options.warmupS,
            durationS: options.durationS,
            workload: { ...workload, token: side.token } as Workload,
            sqlPoolSize: sqlPoolSize(side.server),
          },
          server: side.server,
          scenario: 'node',
          variant: 'random post (paired)',
          cache: side.cache,
        });
      // The off server has just started: one unrecorded run compiles its hot paths, as the on
      // server's earlier runs did.
      await once(sides[0] as (typeof sides)[number]);
      for (let round = 0; round < CACHE_MISS_ROUNDS; round++) {
        for (const side of round % 2 ? [...sides].reverse() : sides) {
          record(side.list, await once(side));
        }
      }
    } finally {
      await off.stop();
    }
    return pair;
  };
  const restores: (() => Promise<void>)[] = [];
  for (const [index, cache] of options.cacheModes.entries()) {
    const server: RunningServer = index === 0 && early ? await early : await start(cache);
    log(`Postline started (pid ${server.pid}, response cache ${cache}) at ${server.baseUrl}`);
    try {
      const admin = await login(server.baseUrl, 'admin@postline.dev');
      const run = async (
        list: RunRecord[],
        scenario: string,
        variant: string,
        workload: Workload | SqlWorkload,
        connections: number,
        durationS = options.durationS,
        warmupS = options.warmupS,
        target: RunningServer = server,
      ) => {
        const sql = workload.kind.startsWith('sql-');
        record(
          list,
          await measure({
            load,
            request: {
              target: sql ? db.url : target.baseUrl,
              connections,
              warmupS,
              durationS,
              workload,
              sqlPoolSize: sqlPoolSize(server),
            },
            server: sql ? null : target,
            scenario,
            variant,
            cache: sql || workload.kind === 'typename' ? 'n/a' : cache,
          }),
        );
      };

      if (index === 0) {
        if (options.baselines) {
          const deepest = await deepestCreatedAt(pool, options.posts);
          const bare = await startBareYoga(node);
          log(`Bare Yoga started (pid ${bare.pid}) at ${bare.baseUrl}`);
          log('Baselines:');
          try {
            // Neither { __typename } server is measured cold (see primeTypename).
            await Promise.all([primeTypename(server.baseUrl), primeTypename(bare.baseUrl)]);
            for (const c of options.connections) {
              const typename: Workload = { kind: 'typename' };
              // The two { __typename } servers alternate (bare, Postline, Postline, bare, ...) and
              // each keeps its median run by CPU per request: one run each is at the mercy of
              // whatever else the machine does during it.
              const bareRuns: RunRecord[] = [];
              const fullRuns: RunRecord[] = [];
              for (let round = 0; round < TYPENAME_ROUNDS; round++) {
                const pair = [
                  () =>
                    run(bareRuns, 'bare-yoga', '{ __typename }', typename, c, ...defaults, bare),
                  () => run(fullRuns, 'typename', '{ __typename }', typename, c),
                ];
                for (const step of round % 2 ? pair.reverse() : pair) await step();
              }
              baselines.push(medianByCpu(bareRuns), medianByCpu(fullRuns));
              await run(baselines, 'sql-feed', 'feed page', { kind: 'sql-feed' }, c);
              const sqlNode: SqlWorkload = {
                kind: 'sql-node',
                minId: data.minPostId,
                maxId: data.maxPostId,
              };
              await run(baselines, 'sql-node', 'random post', sqlNode, c);
              const sqlDeep: SqlWorkload = {
                kind: 'sql-deep',
                createdAt: deepest.createdAt,
                id: deepest.id,
              };
              await run(baselines, 'sql-deep', `CREATED_AT @ ${deepest.depth}`, sqlDeep, c);
            }
          } finally {
            await bare.stop();
          }
        }
        pageSizes = await statementsByPageSize(server.baseUrl, admin.token, [5, 20, 100]);
      }

      log(`Scenarios (response cache ${cache}):`);
      for (const scenario of options.scenarios) {
        if (scenario === 'deep-page') {
          for (const d of deep) {
            const workload: Workload = {
              kind: 'deep-page',
              token: admin.token,
              field: d.field,
              cursor: d.cursor,
            };
            for (const c of options.deepPageConnections) {
              await run(
                runs,
                scenario,
                deepVariant(d),
                workload,
                c,
                options.deepPageDurationS,
                options.deepPageWarmupS,
              );
            }
          }
          continue;
        }
        if (scenario === 'mixed') {
          const setup = await mixedFixture(pool, server.baseUrl, {
            clientUsers: 8,
            hotPostsPerClient: 12,
            cursors: mixedCursors,
          });
          restores.push(setup.restore);
          for (const c of options.connections) {
            await run(
              runs,
              scenario,
              '90% reads / 10% writes',
              { kind: 'mixed', mixed: setup.fixture },
              c,
            );
          }
          continue;
        }
        const workload: Workload =
          scenario === 'feed'
            ? { kind: 'feed', token: admin.token }
            : scenario === 'node'
              ? { kind: 'node', token: admin.token, minId: data.minPostId, maxId: data.maxPostId }
              : { kind: 'dashboard', token: admin.token, clientIds: data.clientIds };
        const variant =
          scenario === 'feed'
            ? 'random status, platform'
            : scenario === 'node'
              ? 'random post'
              : 'random client';
        for (const c of options.connections) await run(runs, scenario, variant, workload, c);
        if (scenario === 'node' && cache === 'on' && options.cacheModes.includes('off')) {
          cacheMiss = await pairedCacheMiss(server, workload);
        }
      }
    } finally {
      // Stopping lets requests in flight finish; only then is the mixed data put back.
      await server.stop();
      for (const restore of restores.splice(0)) await restore();
    }
  }
  await load.stop();

  const { url: _url, ...database } = db;
  const partial: Omit<Report, 'targets' | 'charts'> = {
    label: options.label,
    preset: options.smoke ? 'smoke' : options.quick ? 'quick' : 'full',
    command: options.command,
    date,
    machine: { ...machine(), load: { start: loadAtStart, end: loadAverage() } },
    runtime: {
      node: node.version,
      nodeSource: node.source,
      ...(node.note ? { note: node.note } : {}),
      server: launch.compiled ? 'compiled' : 'tsx',
      buildSeconds: launch.buildSeconds,
    },
    database,
    settings: {
      connections: options.connections,
      deepPageConnections: options.deepPageConnections,
      durationS: options.durationS,
      deepPageDurationS: options.deepPageDurationS,
      warmupS: options.warmupS,
      cacheModes: options.cacheModes,
      serverEnv: options.serverEnv,
    },
    baselines,
    runs,
    ...(cacheMiss ? { cacheMiss } : {}),
    deepPage: deep,
    pageSizes,
    elapsedS: (performance.now() - started) / 1000,
  };
  const charts = await writeCharts(root, partial);
  const report: Report = { ...partial, charts, targets: evaluateTargets(partial) };
  const section = markdown(report);
  const json = await writeJson(path.join(root, 'bench/results'), report);
  if (charts.length) log(`Charts: ${charts.join(', ')}`);
  process.stdout.write(`\n${section}\n\n`);
  if (options.writeMarkdown) {
    await writeMarkdown(path.join(root, 'BENCHMARKS.md'), options.label, section);
    log(`Wrote BENCHMARKS.md (section "${options.label}") and ${path.relative(root, json)}`);
  } else {
    log(`Wrote ${path.relative(root, json)} (BENCHMARKS.md left as it was)`);
  }
  log(`Done in ${fmt(report.elapsedS, 0)} s.`);
}

main()
  .catch((err: unknown) => {
    // After Ctrl-C the children die first; their errors are expected, not news.
    if (wasInterrupted()) return;
    process.stderr.write(
      `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : err}\n`,
    );
    process.exitCode = 1;
  })
  .finally(() => cleanupAll());

/** Alternating runs per server of the `{ __typename }` comparison. */
const TYPENAME_ROUNDS = 3;
/** Alternating runs per server of the paired cache-miss comparison. */
const CACHE_MISS_ROUNDS = 3;

/** The run with the median CPU time per request (the middle one of an odd count). */
function medianByCpu(runs: RunRecord[]): RunRecord {
  const sorted = [...runs].sort(
    (a, b) => (a.cpu?.msPerRequest ?? Infinity) - (b.cpu?.msPerRequest ?? Infinity),
  );
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  if (!median) throw new Error('no { __typename } runs');
  return median;
}
