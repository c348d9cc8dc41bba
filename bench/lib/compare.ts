/**
 * `npm run bench -- --compare <ref>`: before/after on a noisy shared machine. The ref runs
 * from a temporary git worktree ("before"), this checkout is "after"; both servers run at
 * once on the same database and Node, and each selected scenario gets short runs of the two
 * alternately (A B, then B A, ... for N rounds), so both sides see the same neighbours. Per
 * scenario it reports the median and range of req/s, p95 and CPU ms per request of each side,
 * and after ÷ before paired by round.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { onCleanup } from './cleanup.ts';
import { prepareDatabase } from './database.ts';
import { catalog, deepPageCursors, login } from './fixtures.ts';
import { LoadGenerator } from './load-client.ts';
import { describeLoad, loadAverage, type Machine, machine } from './machine.ts';
import { measure, type RunRecord } from './measure.ts';
import type { CacheMode, CompareScenario, Options } from './options.ts';
import { fmt, writeJson, writeMarkdown } from './report.ts';
import { describeLaunch, prepareLaunch, resolveNode, type ServerLaunch } from './runtime.ts';
import { newJwtSecret, primeTypename, type RunningServer, startServer } from './server.ts';
import { median } from './stats.ts';
import { checkoutRef, currentTree, type Tree } from './trees.ts';
import type { Workload } from './types.ts';
import { buildRequests, type Counters } from './workloads.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export type Side = 'before' | 'after';

export interface CompareRun {
  round: number;
  /** 0 when this side ran first in its round, 1 when second. */
  position: number;
  side: Side;
  record: RunRecord;
}

export interface Spread {
  median: number | null;
  min: number | null;
  max: number | null;
}

export interface SideSummary {
  rps: Spread;
  p95: Spread;
  cpu: Spread;
  requests: number;
  errors: number;
}

export interface CompareRow {
  scenario: string;
  variant: string;
  cache: string;
  connections: number;
  rounds: number;
  before: SideSummary;
  after: SideSummary;
  /** after ÷ before per round (paired), summarised. */
  ratio: { rps: Spread; p95: Spread; cpu: Spread };
  /** Rounds in which the after side was better: more req/s, lower p95, less CPU. */
  afterBetter: { rps: number; p95: number; cpu: number };
}

export interface CompareReport {
  label: string;
  command: string;
  date: string;
  machine: Machine;
  node: { version: string; source: string; note?: string };
  sides: Record<
    Side,
    { ref: string; sha: string; dirty: boolean; server: string; modules: string }
  >;
  database: { name: string; server: string; posts: number };
  settings: {
    scenarios: string[];
    connections: number[];
    cacheModes: string[];
    rounds: number;
    durationS: number;
    warmupS: number;
    serverEnv: Record<string, string>;
  };
  rows: CompareRow[];
  runs: CompareRun[];
  elapsedS: number;
}

/** Median, smallest and largest of the finite values. */
export function spread(values: (number | null | undefined)[]): Spread {
  const xs = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  if (!xs.length) return { median: null, min: null, max: null };
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}

const errorsOf = (r: RunRecord) =>
  r.load.non2xx + r.load.graphqlErrors + r.load.transportErrors + r.load.timeouts;

/** Pairs the two sides' runs of each round and summarises them per scenario and level. */
export function summarize(runs: CompareRun[]): CompareRow[] {
  const groups = new Map<string, CompareRun[]>();
  for (const run of runs) {
    const r = run.record;
    const key = [r.scenario, r.variant, r.cache, r.connections].join('\u0000');
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  const rows: CompareRow[] = [];
  for (const list of groups.values()) {
    const first = list[0]?.record;
    if (!first) continue;
    const side = (s: Side) => list.filter((r) => r.side === s).map((r) => r.record);
    const summary = (rs: RunRecord[]): SideSummary => ({
      rps: spread(rs.map((r) => r.rps)),
      p95: spread(rs.map((r) => r.load.latency.p95)),
      cpu: spread(rs.map((r) => r.cpu?.msPerRequest)),
      requests: rs.reduce((n, r) => n + r.load.requests, 0),
      errors: rs.reduce((n, r) => n + errorsOf(r), 0),
    });
    const rounds = [...new Set(list.map((r) => r.round))].sort((a, b) => a - b);
    const pairs = rounds
      .map((round) => {
        const b = list.find((r) => r.round === round && r.side === 'before')?.record;
        const a = list.find((r) => r.round === round && r.side === 'after')?.record;
        return b && a ? { b, a } : null;
      })
      .filter((p): p is { b: RunRecord; a: RunRecord } => p !== null);
    const ratio = (f: (r: RunRecord) => number | null | undefined) =>
      spread(
        pairs.map(({ a, b }) => {
          const x = f(a);
          const y = f(b);
          return x == null || y == null || y === 0 ? null : x / y;
        }),
      );
    const count = (better: (a: RunRecord, b: RunRecord) => boolean | null) =>
      pairs.filter(({ a, b }) => better(a, b) === true).length;
    const cpuOf = (r: RunRecord) => r.cpu?.msPerRequest ?? null;
    rows.push({
      scenario: first.scenario,
      variant: first.variant,
      cache: first.cache,
      connections: first.connections,
      rounds: pairs.length,
      before: summary(side('before')),
      after: summary(side('after')),
      ratio: {
        rps: ratio((r) => r.rps),
        p95: ratio((r) => r.load.latency.p95),
        cpu: ratio(cpuOf),
      },
      afterBetter: {
        rps: count((a, b) => a.rps > b.rps),
        p95: count((a, b) => a.load.latency.p95 < b.load.latency.p95),
        cpu: count((a, b) => {
          const x = cpuOf(a);
          const y = cpuOf(b);
          return x === null || y === null ? null : x < y;
        }),
      },
    });
  }
  return rows;
}

const cell = (s: Spread, digits: number) =>
  s.median === null
    ? 'n/a'
    : `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;
const times = (s: Spread) =>
  s.median === null ? 'n/a' : `**${fmt(s.median, 2)}×** (${fmt(s.min, 2)}–${fmt(s.max, 2)})`;

const describeSide = (s: CompareReport['sides'][Side]) =>
  s.ref === 'working tree'
    ? `this checkout at \`${s.sha.slice(0, 10)}\`${s.dirty ? ' plus uncommitted changes' : ''}; ${s.server}`
    : `\`${s.ref}\` = \`${s.sha.slice(0, 10)}\` (temporary worktree; dependencies: ${s.modules}); ${s.server}`;

export function compareMarkdown(report: CompareReport): string {
  const m = report.machine;
  const s = report.settings;
  const out: string[] = [`## ${report.label}`, ''];
  out.push(
    [
      `- Command: \`${report.command}\``,
      `- Date: ${report.date} (whole run ${fmt(report.elapsedS, 0)} s)`,
      `- Machine: ${m.cpus} CPUs (\`nproc\`), ${m.cpuModel}, ${fmt(m.memoryGb, 1)} GB RAM${describeLoad(m)}; servers on Node ${report.node.version} (${report.node.source})${report.node.note ? `. ${report.node.note}` : ''}`,
      `- Before: ${describeSide(report.sides.before)}`,
      `- After: ${describeSide(report.sides.after)}`,
      `- Data: ${report.database.posts.toLocaleString('en')} posts in \`${report.database.name}\` on ${report.database.server}, shared by both servers`,
      `- Runs: ${s.rounds} rounds per scenario and level, each side ${fmt(s.durationS, 1)} s measured after ${fmt(s.warmupS, 1)} s warm-up, alternating (before then after in odd rounds, after then before in even ones); response cache ${s.cacheModes.join(', ')}`,
    ].join('\n'),
  );
  const chance = 2 * 0.5 ** s.rounds;
  out.push(
    '',
    'Each cell: median of the rounds (smallest–largest). `after ÷ before`: the ratio within each round, then its median (range); `after better`: rounds in which after had more req/s · lower p95 · less CPU per request.' +
      ` Two identical servers win all ${s.rounds} rounds on one side by chance ${fmt(chance * 100, 1)}% of the time per column: trust a difference only when every round agrees, over enough rounds, and it is larger than an A/A run (\`--compare HEAD\`) shows on this machine.`,
    '',
  );
  const head = [
    'scenario',
    'variant',
    'cache',
    'conns',
    'req/s before',
    'req/s after',
    'req/s after ÷ before',
    'p95 ms before',
    'p95 ms after',
    'p95 after ÷ before',
    'CPU ms/req before',
    'CPU ms/req after',
    'CPU after ÷ before',
    'after better',
    'errors',
  ];
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  out.push(line(head), line(head.map(() => '---')));
  for (const r of report.rows) {
    const b = r.afterBetter;
    out.push(
      line([
        r.scenario,
        r.variant,
        r.cache,
        String(r.connections),
        cell(r.before.rps, 0),
        cell(r.after.rps, 0),
        times(r.ratio.rps),
        cell(r.before.p95, 2),
        cell(r.after.p95, 2),
        times(r.ratio.p95),
        cell(r.before.cpu, 3),
        cell(r.after.cpu, 3),
        times(r.ratio.cpu),
        `${b.rps} · ${b.p95} · ${b.cpu} of ${r.rounds}`,
        `${r.before.errors} / ${r.after.errors}`,
      ]),
    );
  }
  return out.join('\n');
}

/** The load of one compare scenario against one side. */
function workloadFor(
  scenario: CompareScenario,
  token: string,
  data: Awaited<ReturnType<typeof catalog>>,
  deepCursor: string | null,
): { workload: Workload; variant: string } {
  switch (scenario) {
    case 'typename':
      return { workload: { kind: 'typename' }, variant: '{ __typename }' };
    case 'feed':
      return { workload: { kind: 'feed', token }, variant: 'random status, platform' };
    case 'node':
      return {
        workload: { kind: 'node', token, minId: data.minPostId, maxId: data.maxPostId },
        variant: 'random post',
      };
    case 'dashboard':
      return {
        workload: { kind: 'dashboard', token, clientIds: data.clientIds },
        variant: 'random client',
      };
    case 'deep-page':
      if (!deepCursor) throw new Error('no deep-page cursor');
      return {
        workload: { kind: 'deep-page', token, field: 'CREATED_AT', cursor: deepCursor },
        variant: 'CREATED_AT, deepest',
      };
  }
}

/** One request of `workload` must succeed on `server` before its rounds count. */
async function preflight(server: RunningServer, scenario: string, workload: Workload) {
  const counters: Counters = {
    measuring: true,
    graphqlErrors: 0,
    errorSamples: [],
    writes: 0,
    checks: 0,
    staleReads: 0,
    lost: 0,
    failures: [],
  };
  const req = buildRequests(workload, counters)[0];
  if (!req) return;
  const res = await fetch(`${server.baseUrl}${req.path}`, {
    method: req.method,
    headers: req.headers,
    ...(req.body ? { body: req.body } : {}),
  });
  const text = await res.text();
  if (!res.ok || text.includes('"errors"')) {
    throw new Error(
      `${server.name} cannot serve ${scenario}: HTTP ${res.status} ${text.slice(0, 300)}`,
    );
  }
}

export async function runCompare(options: Options, log: (line: string) => void): Promise<void> {
  const started = performance.now();
  const date = new Date().toISOString();
  const loadAtStart = loadAverage();
  const ref = options.compare as string;

  const node = await resolveNode(options.node, log);
  if (node.note) log(`Note: ${node.note}`);
  const after = await currentTree(root);
  const before: Tree = await checkoutRef(root, ref, log);
  const launches: Record<Side, ServerLaunch> = {
    // The worktree is fresh: it is always built when it has a build script.
    before: await prepareLaunch(before.dir, { build: true, log }),
    after: await prepareLaunch(root, { build: options.build, log }),
  };
  const trees: Record<Side, Tree> = { before, after };
  log(
    `Servers on Node ${node.version} (${node.source}). Before: ${ref} ${describeLaunch(launches.before)}; after: this checkout ${describeLaunch(launches.after)}.`,
  );

  const db = await prepareDatabase({ posts: options.posts, log });
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  onCleanup('harness pool', () => pool.end(), { last: true });
  const data = await catalog(pool);
  const jwtSecret = newJwtSecret();
  let deepCursor: string | null = null;
  if (options.compareScenarios.includes('deep-page')) {
    log('Building the deepest CREATED_AT cursor...');
    const cursors = await deepPageCursors(pool, {
      posts: options.posts,
      jwtSecret,
      fields: ['CREATED_AT'],
      offsetRuns: 1,
      endsOnly: true,
    });
    const deepest = cursors[cursors.length - 1];
    deepCursor = deepest?.cursor ?? null;
  }
  const load = new LoadGenerator();
  const runs: CompareRun[] = [];
  const sideNames: Record<Side, string> = {
    before: `before (${ref})`,
    after: 'after (this checkout)',
  };

  for (const cache of options.cacheModes as CacheMode[]) {
    const env = {
      ...options.serverEnv,
      RESPONSE_CACHE:
        cache === 'off'
          ? 'off'
          : options.serverEnv.RESPONSE_CACHE && options.serverEnv.RESPONSE_CACHE !== 'off'
            ? options.serverEnv.RESPONSE_CACHE
            : 'memory',
    };
    const servers = {} as Record<Side, RunningServer>;
    try {
      // Both start at once (each applies its migrations under the same advisory lock).
      const started = await Promise.allSettled(
        (['before', 'after'] as const).map(async (side) => {
          servers[side] = await startServer({
            databaseUrl: db.url,
            jwtSecret,
            env,
            node,
            launch: launches[side],
            name: `Postline ${sideNames[side]}`,
          });
          log(
            `${servers[side].name} started (pid ${servers[side].pid}) at ${servers[side].baseUrl}`,
          );
        }),
      );
      for (const s of started) if (s.status === 'rejected') throw s.reason;
      const tokens = {} as Record<Side, string>;
      for (const side of ['before', 'after'] as const) {
        tokens[side] = (await login(servers[side].baseUrl, 'admin@postline.dev', true)).token;
      }
      const plan = options.compareScenarios.map((scenario) => ({
        scenario,
        sides: {
          before: workloadFor(scenario, tokens.before, data, deepCursor),
          after: workloadFor(scenario, tokens.after, data, deepCursor),
        },
      }));
      for (const p of plan) {
        for (const side of ['before', 'after'] as const) {
          await preflight(servers[side], p.scenario, p.sides[side].workload);
        }
      }
      await Promise.all([
        primeTypename(servers.before.baseUrl),
        primeTypename(servers.after.baseUrl),
      ]);
      log(`Rounds (response cache ${cache}):`);
      for (let round = 1; round <= options.rounds; round++) {
        const order: Side[] = round % 2 === 1 ? ['before', 'after'] : ['after', 'before'];
        for (const p of plan) {
          for (const connections of options.connections) {
            for (const [position, side] of order.entries()) {
              const { workload, variant } = p.sides[side];
              const record = await measure({
                load,
                request: {
                  target: servers[side].baseUrl,
                  connections,
                  warmupS: options.warmupS,
                  durationS: options.durationS,
                  workload,
                },
                server: servers[side],
                scenario: p.scenario,
                variant,
                cache: p.scenario === 'typename' ? 'n/a' : cache,
              });
              runs.push({ round, position, side, record });
              log(
                `  round ${round}/${options.rounds} ${p.scenario.padEnd(9)} c=${String(connections).padEnd(3)} ${side.padEnd(6)}` +
                  ` ${fmt(record.rps, 0).padStart(7)} req/s  p95 ${fmt(record.load.latency.p95, 2)} ms` +
                  `  CPU ${fmt(record.cpu?.msPerRequest, 3)} ms/req  errors ${fmt(record.errorRate * 100, 2)}%`,
              );
            }
          }
        }
      }
    } finally {
      for (const side of ['after', 'before'] as const) await servers[side]?.stop();
    }
  }
  await load.stop();

  const sideInfo = (s: Side) => ({
    ref: trees[s].ref,
    sha: trees[s].sha,
    dirty: trees[s].dirty,
    server: describeLaunch(launches[s]),
    modules: trees[s].modules,
  });
  const report: CompareReport = {
    label: options.label,
    command: options.command,
    date,
    machine: { ...machine(), load: { start: loadAtStart, end: loadAverage() } },
    node: { version: node.version, source: node.source, ...(node.note ? { note: node.note } : {}) },
    sides: { before: sideInfo('before'), after: sideInfo('after') },
    database: { name: db.name, server: db.server, posts: db.posts },
    settings: {
      scenarios: options.compareScenarios,
      connections: options.connections,
      cacheModes: options.cacheModes,
      rounds: options.rounds,
      durationS: options.durationS,
      warmupS: options.warmupS,
      serverEnv: options.serverEnv,
    },
    rows: summarize(runs),
    runs,
    elapsedS: (performance.now() - started) / 1000,
  };
  const section = compareMarkdown(report);
  const json = await writeJson(path.join(root, 'bench/results'), report);
  process.stdout.write(`\n${section}\n\n`);
  if (options.writeMarkdown) {
    await writeMarkdown(path.join(root, 'BENCHMARKS.md'), options.label, section);
    log(`Wrote BENCHMARKS.md (section "${options.label}") and ${path.relative(root, json)}`);
  } else {
    log(`Wrote ${path.relative(root, json)} (BENCHMARKS.md left as it was)`);
  }
  log(`Done in ${fmt(report.elapsedS, 0)} s.`);
}
