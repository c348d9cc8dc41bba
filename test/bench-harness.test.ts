/**
 * The benchmark harness's own machinery (`npm run bench`): the CPU reading from /proc, the
 * bare Yoga baseline server measured end to end, the before/after summary, the charts and the
 * options. Speed itself is never asserted here: only that the figures are the right ones.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { chartSvg, compact, niceTicks, reportCharts } from '../bench/lib/charts.ts';
import { type CompareRun, compareMarkdown, spread, summarize } from '../bench/lib/compare.ts';
import { assertServerProcess, parseProcStat, processCpuSeconds } from '../bench/lib/cpu.ts';
import { LoadGenerator } from '../bench/lib/load-client.ts';
import { measure, type RunRecord } from '../bench/lib/measure.ts';
import { parseOptions } from '../bench/lib/options.ts';
import type { Report } from '../bench/lib/report.ts';
import { resolveNode, thisNode } from '../bench/lib/runtime.ts';
import { startBareYoga } from '../bench/lib/server.ts';
import { evaluateTargets } from '../bench/lib/targets.ts';
import { checkoutRef } from '../bench/lib/trees.ts';

const linux = existsSync('/proc/self/stat');
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** Lines a child prints; `next(pattern)` resolves with the first unseen line matching it. */
function lines(child: ChildProcess) {
  const seen: string[] = [];
  let buffer = '';
  let wake = () => {};
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop() ?? '';
    seen.push(...parts);
    wake();
  });
  const exited = once(child, 'exit');
  return {
    async next(pattern: RegExp): Promise<string> {
      for (;;) {
        const i = seen.findIndex((l) => pattern.test(l));
        if (i >= 0) return seen.splice(0, i + 1)[i] as string;
        const more = new Promise<void>((r) => {
          wake = r;
        });
        const ended = await Promise.race([more.then(() => false), exited.then(() => true)]);
        if (ended) throw new Error(`child exited without printing ${pattern}`);
      }
    },
  };
}

describe('CPU time from /proc/<pid>/stat', () => {
  it('counts fields from the last parenthesis, so a command name with spaces cannot shift them', () => {
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    const line = '4242 (node (x) y) S 1 2 3 0 -1 4194304 10 0 0 0 250 50 0 0 20 0 11 0';
    expect(parseProcStat(line, 100)).toBeCloseTo(3.0, 6);
  });

  it.skipIf(!linux)(
    'reads the same CPU time a busy process measures for itself',
    async () => {
      // The child burns 300 ms of its own CPU time (not wall time: the machine may be busy),
      // then reports what process.cpuUsage() says it used since it said "ready".
      const child = spawn(
        process.execPath,
        [
          '-e',
          `const t0 = process.cpuUsage(); console.log('ready');
           process.stdin.once('data', () => {
             const a = process.cpuUsage(); let x = 0;
             while (process.cpuUsage(a).user < 300000) x++;
             const d = process.cpuUsage(t0);
             console.log('done ' + (d.user + d.system) / 1e6);
             setInterval(() => {}, 1000);
           });`,
        ],
        { stdio: ['pipe', 'pipe', 'inherit'] },
      );
      children.push(child);
      const out = lines(child);
      await out.next(/^ready/);
      const before = processCpuSeconds(child.pid ?? 0);
      child.stdin?.write('go\n');
      const done = await out.next(/^done /);
      const after = processCpuSeconds(child.pid ?? 0);
      const self = Number(done.split(' ')[1]);
      expect(before).not.toBeNull();
      const measured = (after as number) - (before as number);
      expect(measured).toBeGreaterThan(0.25);
      // Clock ticks are 10 ms; the reading and the child's own figure start a moment apart.
      expect(Math.abs(measured - self)).toBeLessThan(0.08);
      child.kill('SIGKILL');
    },
    30_000,
  );

  it.skipIf(!linux)('refuses a pid that is a shell wrapper, not the node server', async () => {
    const wrapper = spawn(
      'sh',
      ['-c', `"${process.execPath}" -e "setInterval(() => {}, 1000)"; true`],
      {
        detached: true,
        stdio: 'ignore',
      },
    );
    children.push(wrapper);
    await once(wrapper, 'spawn');
    try {
      expect(() => assertServerProcess(wrapper.pid ?? 0, process.execPath, 'server')).toThrow(
        /not .*node/,
      );
    } finally {
      process.kill(-(wrapper.pid ?? 0), 'SIGKILL');
    }
  });
});

describe('bare Yoga baseline, measured like a scenario', () => {
  it.skipIf(!linux)(
    'answers { __typename } and gets CPU ms per request and RSS from /proc',
    async () => {
      const bare = await startBareYoga(thisNode());
      const load = new LoadGenerator();
      try {
        const res = await fetch(`${bare.baseUrl}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: '{ __typename }' }),
        });
        expect(await res.json()).toEqual({ data: { __typename: 'Query' } });

        const record = await measure({
          load,
          request: {
            target: bare.baseUrl,
            connections: 2,
            warmupS: 0.2,
            durationS: 1,
            workload: { kind: 'typename' },
          },
          server: bare,
          scenario: 'bare-yoga',
          variant: '{ __typename }',
          cache: 'n/a',
        });
        expect(record.load.requests).toBeGreaterThan(0);
        expect(record.errorRate).toBe(0);
        expect(record.cpu?.source).toBe('proc');
        expect(record.cpu?.seconds).toBeGreaterThan(0);
        expect(record.cpu?.msPerRequest).toBeCloseTo(
          ((record.cpu?.seconds ?? 0) * 1000) / record.load.requests,
          9,
        );
        // One process can use at most the machine's cores in the window (plus a tick).
        expect(record.cpu?.cores).toBeLessThan(4);
        expect(record.server?.rssMb).toBeGreaterThan(10);
        expect(record.server?.sqlPerRequest).toBeNull();
      } finally {
        await load.stop();
        await bare.stop();
      }
    },
    60_000,
  );
});

const run = (over: Partial<RunRecord> & { rps: number; p95: number; cpuMs: number | null }) =>
  ({
    scenario: 'feed',
    variant: 'v',
    cache: 'off',
    connections: 16,
    errorRate: 0,
    server: null,
    ...over,
    load: {
      requests: 100,
      durationS: 1,
      latency: {
        p50: over.p95 / 2,
        p95: over.p95,
        p99: over.p95,
        mean: over.p95 / 2,
        max: over.p95,
      },
      non2xx: 0,
      graphqlErrors: 0,
      transportErrors: 0,
      timeouts: 0,
      errorSamples: [],
    },
    cpu:
      over.cpuMs === null
        ? null
        : { seconds: over.cpuMs / 10, msPerRequest: over.cpuMs, cores: 0.5, source: 'proc' },
  }) as RunRecord;

describe('--compare summary', () => {
  it('pairs the sides by round: medians, ranges, ratios and rounds won', () => {
    const runs: CompareRun[] = [
      { round: 1, position: 0, side: 'before', record: run({ rps: 100, p95: 20, cpuMs: 4 }) },
      { round: 1, position: 1, side: 'after', record: run({ rps: 150, p95: 10, cpuMs: 2 }) },
      { round: 2, position: 1, side: 'before', record: run({ rps: 200, p95: 30, cpuMs: 5 }) },
      { round: 2, position: 0, side: 'after', record: run({ rps: 180, p95: 12, cpuMs: 2.5 }) },
      { round: 3, position: 0, side: 'before', record: run({ rps: 120, p95: 25, cpuMs: 4 }) },
      { round: 3, position: 1, side: 'after', record: run({ rps: 240, p95: 11, cpuMs: null }) },
    ];
    const [row, ...rest] = summarize(runs);
    expect(rest).toHaveLength(0);
    expect(row?.rounds).toBe(3);
    expect(row?.before.rps).toEqual({ median: 120, min: 100, max: 200 });
    expect(row?.after.rps).toEqual({ median: 180, min: 150, max: 240 });
    // Per round: 1.5, 0.9, 2.0.
    expect(row?.ratio.rps).toEqual({ median: 1.5, min: 0.9, max: 2 });
    expect(row?.ratio.cpu).toEqual({ median: 0.5, min: 0.5, max: 0.5 });
    expect(row?.afterBetter).toEqual({ rps: 2, p95: 3, cpu: 2 });
    expect(spread([3, 1, 2, 10])).toEqual({ median: 2.5, min: 1, max: 10 });
  });

  it('prints one row per scenario with both sides and the ratio', () => {
    const runs: CompareRun[] = [
      { round: 1, position: 0, side: 'before', record: run({ rps: 100, p95: 20, cpuMs: 4 }) },
      { round: 1, position: 1, side: 'after', record: run({ rps: 150, p95: 10, cpuMs: 2 }) },
    ];
    const text = compareMarkdown({
      label: 'compare-test',
      command: 'npm run bench -- --compare HEAD~1',
      date: '2026-12-01T00:00:00.000Z',
      machine: { cpus: 2, cpuModel: 'x', memoryGb: 1, node: 'v20', platform: 'linux' },
      node: { version: 'v24.0.0', source: 'test' },
      sides: {
        before: { ref: 'HEAD~1', sha: 'a'.repeat(40), dirty: false, server: 'tsx', modules: 'm' },
        after: {
          ref: 'working tree',
          sha: 'b'.repeat(40),
          dirty: true,
          server: 'tsx',
          modules: 'm',
        },
      },
      database: { name: 'db', server: 'local', posts: 50_000 },
      settings: {
        scenarios: ['feed'],
        connections: [16],
        cacheModes: ['off'],
        rounds: 1,
        durationS: 1,
        warmupS: 0.5,
        serverEnv: {},
      },
      rows: summarize(runs),
      runs,
      elapsedS: 3,
    });
    expect(text).toContain('`HEAD~1` = `aaaaaaaaaa`');
    expect(text).toContain('plus uncommitted changes');
    expect(text).toMatch(
      /\| feed \| v \| off \| 16 \| 100 \(100–100\) \| 150 \(150–150\) \| \*\*1\.50×\*\* \(1\.50–1\.50\) \|/,
    );
    expect(text).toContain('| 1 · 1 · 1 of 1 |');
  });

  it('refuses a ref that is not a commit before touching any worktree', async () => {
    await expect(checkoutRef(process.cwd(), 'no-such-ref-xyz', () => {})).rejects.toThrow(
      /--compare no-such-ref-xyz: not a commit/,
    );
  });
});

describe('charts', () => {
  it('draws one line per series, scaled so that more is higher, with escaped labels', () => {
    const svg = chartSvg('Feed <uncached> & cached', [
      {
        title: 'Throughput',
        xLabel: 'connections',
        yLabel: 'req/s',
        series: [
          {
            name: 'a',
            color: '#000',
            points: [
              { x: 1, y: 100 },
              { x: 16, y: 400 },
              { x: 64, y: 300 },
            ],
          },
        ],
      },
    ]);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('Feed &lt;uncached&gt; &amp; cached');
    const polyline = /<polyline points="([^"]+)"/.exec(svg)?.[1] ?? '';
    const pts = polyline.split(' ').map((p) => p.split(',').map(Number) as [number, number]);
    expect(pts).toHaveLength(3);
    const [a, b, c] = pts as [[number, number], [number, number], [number, number]];
    expect(a[0]).toBeLessThan(b[0]);
    expect(b[0]).toBeLessThan(c[0]);
    // SVG y grows downwards: 400 req/s is drawn above 300, which is above 100.
    expect(b[1]).toBeLessThan(c[1]);
    expect(c[1]).toBeLessThan(a[1]);
  });

  it('makes round ticks and short labels', () => {
    expect(niceTicks(2_300)).toEqual([0, 500, 1000, 1500, 2000, 2500]);
    expect(niceTicks(0.9)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect([1, 16, 500, 10_000, 900_000, 1_500_000].map(compact)).toEqual([
      '1',
      '16',
      '500',
      '10k',
      '900k',
      '1.5M',
    ]);
  });

  it('writes a chart per scenario with several levels and the depth chart', () => {
    const r = (scenario: string, variant: string, connections: number, cache: 'off' | 'on') => ({
      ...run({ rps: 100 * connections, p95: connections, cpuMs: 1 }),
      scenario,
      variant,
      connections,
      cache,
    });
    const report = {
      label: 'test',
      date: '2026-12-01T00:00:00.000Z',
      machine: { cpus: 2, cpuModel: 'x', memoryGb: 1, node: 'v20', platform: 'linux' },
      database: { name: 'db', server: 'local', posts: 50_000, seeded: false, seedSeconds: null },
      baselines: [r('bare-yoga', 'x', 1, 'off'), r('bare-yoga', 'x', 16, 'off')],
      runs: [
        r('feed', 'f', 1, 'off'),
        r('feed', 'f', 16, 'off'),
        r('node', 'n', 1, 'off'),
        r('deep-page', 'CREATED_AT @ 1', 1, 'off'),
        r('deep-page', 'CREATED_AT @ 45000', 1, 'off'),
      ],
      deepPage: [
        {
          field: 'CREATED_AT',
          nominal: 1,
          depth: 1,
          cursor: '',
          key: { v: null, id: 1 },
          offsetP50Ms: 1,
          offsetRuns: 1,
        },
        {
          field: 'CREATED_AT',
          nominal: 900_000,
          depth: 45_000,
          cursor: '',
          key: { v: null, id: 2 },
          offsetP50Ms: 9,
          offsetRuns: 1,
        },
      ],
    } as unknown as Omit<Report, 'targets' | 'charts'>;
    const files = reportCharts(report);
    // node ran at one level only: a chart against connections would be a single point.
    expect([...files.keys()].sort()).toEqual(['baselines.svg', 'deep-page-depth.svg', 'feed.svg']);
    expect(files.get('deep-page-depth.svg')).toContain('CREATED_AT, OFFSET in SQL');
  });
});

describe('targets', () => {
  const node = (cache: 'off' | 'on', cpuMs: number) => ({
    ...run({ rps: 1000, p95: 10, cpuMs }),
    scenario: 'node',
    variant: 'random post',
    connections: 16,
    cache,
  });
  const base = {
    label: 'test',
    baselines: [],
    runs: [node('off', 0.4), node('on', 0.56)],
    deepPage: [],
    pageSizes: [],
  };
  const missRow = (report: object) =>
    evaluateTargets(report as Omit<Report, 'targets' | 'charts'>).find((t) =>
      t.target.includes('cache on costs'),
    );

  it('judges the cache miss by the paired runs: the median of on/off per alternating pair', () => {
    const paired = missRow({
      ...base,
      cacheMiss: {
        connections: 16,
        off: [node('off', 0.5), node('off', 0.4), node('off', 0.6)],
        on: [node('on', 0.52), node('on', 0.5), node('on', 0.6)],
      },
    });
    expect(paired?.measured).toMatch(
      /^1\.04× \(median of 3 alternating pairs: 1\.04, 1\.25, 1\.00\)/,
    );
    expect(paired?.result).toBe('PASS');
  });

  it('falls back to the two passes, and says they were unpaired', () => {
    const unpaired = missRow(base);
    expect(unpaired?.measured).toMatch(/^1\.40× .*unpaired/);
    expect(unpaired?.result).toBe('MISS');
  });
});

describe('options', () => {
  it('--compare defaults to short alternating runs of the read shapes at 16 connections, cache off', () => {
    const o = parseOptions(['--compare', 'HEAD~1', '--quick']);
    expect(o.compare).toBe('HEAD~1');
    expect(o.compareScenarios).toEqual(['typename', 'feed', 'node', 'deep-page']);
    expect(o.connections).toEqual([16]);
    expect(o.cacheModes).toEqual(['off']);
    expect(o.rounds).toBe(3);
    expect(o.durationS).toBe(2);
    expect(o.label).toBe('compare-quick');
    expect(parseOptions(['--compare', 'main']).rounds).toBe(5);
  });

  it('refuses mixed in --compare (its writes would make the rounds differ)', () => {
    expect(() => parseOptions(['--compare', 'main', '--scenarios', 'mixed'])).toThrow(
      /unknown scenario "mixed" for --compare/,
    );
  });

  it('--node takes a path or a major version; the running major needs no install', async () => {
    const major = process.version.slice(1).split('.')[0] as string;
    const byMajor = await resolveNode(major, () => {});
    expect(byMajor.binary).toBe(process.execPath);
    const byPath = await resolveNode(process.execPath, () => {});
    expect(byPath.version).toBe(process.version);
    await expect(resolveNode('/no/such/node', () => {})).rejects.toThrow(/no executable/);
    expect(parseOptions(['--node', '24']).node).toBe('24');
    expect(parseOptions([]).node).toBeNull();
  });
});
