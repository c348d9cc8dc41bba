/** The run's figures as markdown (BENCHMARKS.md, one section per label) and as JSON. */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BenchDatabase } from './database.ts';
import type { DeepPageCursor } from './fixtures.ts';
import { describeLoad, type Machine } from './machine.ts';
import type { RunRecord } from './measure.ts';
import type { Target } from './targets.ts';

export interface PageSizeProbe {
  first: number;
  sqlPerRequest: number | null;
}

export interface Report {
  label: string;
  /** `quick` and `smoke` runs are short: their figures are indicative. */
  preset?: 'full' | 'quick' | 'smoke';
  command: string;
  date: string;
  machine: Machine;
  /** The Node the servers ran on and how Postline was started. */
  runtime?: {
    node: string;
    nodeSource: string;
    note?: string;
    server: 'compiled' | 'tsx';
    buildSeconds: number | null;
  };
  database: Omit<BenchDatabase, 'url'>;
  settings: {
    connections: number[];
    deepPageConnections: number[];
    durationS: number;
    deepPageDurationS: number;
    warmupS: number;
    cacheModes: string[];
    serverEnv: Record<string, string>;
  };
  baselines: RunRecord[];
  runs: RunRecord[];
  /**
   * What a response-cache miss costs: random node lookups against a server with the cache off
   * and one with it on, alternating (off, on, on, off, ...) so both see the machine alike.
   */
  cacheMiss?: { connections: number; off: RunRecord[]; on: RunRecord[] };
  deepPage: DeepPageCursor[];
  pageSizes: PageSizeProbe[];
  targets: Target[];
  /** SVG charts written for this run, relative to the repository root. */
  charts: string[];
  /** Wall-clock seconds of the whole run. */
  elapsedS: number;
}

const na = 'n/a';
export function fmt(v: number | null | undefined, digits = 1): string {
  if (v === null || v === undefined || Number.isNaN(v)) return na;
  if (!Number.isFinite(v)) return '∞';
  return v.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}
const pct = (v: number | null | undefined, digits = 1) =>
  v === null || v === undefined || Number.isNaN(v) ? na : `${fmt(v * 100, digits)}%`;
const div = (a: number | null | undefined, b: number | null | undefined) =>
  a == null || b == null || b === 0 || Number.isNaN(a) || Number.isNaN(b) ? null : a / b;
const x = (v: number | null) => (v === null ? na : `${fmt(v, 2)}×`);

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Baseline run at the same connection level. */
export function baselineFor(
  report: Pick<Report, 'baselines'>,
  scenario: string,
  connections: number,
) {
  return report.baselines.find((b) => b.scenario === scenario && b.connections === connections);
}

/** How each baseline is named in the tables. */
export const BASELINE_NAMES: Record<string, string> = {
  'bare-yoga': 'bare Yoga `{ __typename }`',
  typename: 'Postline `{ __typename }`',
  'sql-feed': 'feed page SQL through `pg`',
  'sql-node': 'node lookup SQL through `pg`',
  'sql-deep': 'deep page SQL through `pg`',
};

/** The raw SQL baseline of the same shape as a scenario (the feed's for the others). */
export const sqlBaselineOf = (scenario: string) =>
  scenario === 'node' ? 'sql-node' : scenario === 'deep-page' ? 'sql-deep' : 'sql-feed';

/** CPU ms per request, with three decimals: a bare Yoga request costs well under 1 ms. */
export const cpuMs = (r: RunRecord | undefined | null) => fmt(r?.cpu?.msPerRequest, 3);

function describeEnv(env: Record<string, string>): string {
  const keys = Object.keys(env);
  return keys.length ? keys.map((k) => `\`${k}=${env[k]}\``).join(', ') : 'defaults';
}

export function markdown(report: Report): string {
  const m = report.machine;
  const db = report.database;
  const s = report.settings;
  const out: string[] = [];
  out.push(`## ${report.label}`);
  out.push('');
  out.push(
    [
      `- Command: \`${report.command}\``,
      `- Date: ${report.date} (whole run ${fmt(report.elapsedS, 0)} s)`,
      `- Machine: ${m.cpus} CPUs (\`nproc\`), ${m.cpuModel}, ${fmt(m.memoryGb, 1)} GB RAM, ${m.platform}; harness on Node ${m.node}${describeLoad(m)}`,
      report.runtime
        ? `- Servers: Node ${report.runtime.node} (${report.runtime.nodeSource}); Postline ${report.runtime.server === 'compiled' ? `compiled (\`dist/server.js\`${report.runtime.buildSeconds === null ? '' : `, built in ${fmt(report.runtime.buildSeconds, 0)} s`})` : 'through tsx (`src/server.ts`)'}${report.runtime.note ? `. ${report.runtime.note}` : ''}`
        : `- Servers: Node ${m.node}`,
      `- Data: ${db.posts.toLocaleString('en')} posts in \`${db.name}\` on ${db.server}` +
        (db.seeded ? ` (seeded in ${fmt(db.seedSeconds, 1)} s)` : ' (reused)'),
      `- Runs: ${fmt(s.durationS, 1)} s measured after ${fmt(s.warmupS, 1)} s warm-up; connections ${s.connections.join(', ')}` +
        ` (deep-page: ${s.deepPageConnections.join(', ')}, ${fmt(s.deepPageDurationS, 1)} s); response cache ${s.cacheModes.join(', ')}; server env: ${describeEnv(s.serverEnv)}`,
    ].join('\n'),
  );
  if (report.preset && report.preset !== 'full') {
    out.push(
      '',
      `> A \`--${report.preset}\` run: runs of ${fmt(s.durationS, 1)} s on a shared machine. Its figures are **indicative**; compare shapes and ratios, not absolute numbers.`,
    );
  }
  if (db.posts !== 1_000_000) {
    out.push(
      '',
      `> Data size is ${db.posts.toLocaleString('en')} posts; the targets are set for 1,000,000 and deep-page depths are scaled to the same relative positions.`,
    );
  }

  if (report.baselines.length) {
    out.push('', '### Baselines', '');
    out.push(
      table(
        [
          'baseline',
          'variant',
          'conns',
          'req/s',
          'p50 ms',
          'p95 ms',
          'p99 ms',
          'errors',
          'CPU ms/req',
          'RSS MB',
        ],
        report.baselines.map((b) => [
          BASELINE_NAMES[b.scenario] ?? b.scenario,
          b.variant,
          String(b.connections),
          fmt(b.rps, 0),
          fmt(b.load.latency.p50, 2),
          fmt(b.load.latency.p95, 2),
          fmt(b.load.latency.p99, 2),
          pct(b.errorRate, 2),
          cpuMs(b),
          fmt(b.server?.rssMb, 0),
        ]),
      ),
    );
    const levels = [...new Set(report.baselines.map((b) => b.connections))];
    const pairs = levels
      .map(
        (c) =>
          [c, baselineFor(report, 'bare-yoga', c), baselineFor(report, 'typename', c)] as const,
      )
      .filter(([, bare, full]) => bare && full);
    if (pairs.length) {
      out.push('', '### `{ __typename }`: the production plugin stack against a bare Yoga', '');
      out.push(
        'Each server ran three times, alternating (bare, Postline, Postline, bare, bare, Postline); each cell is the run with the median CPU per request.',
        '',
      );
      out.push(
        table(
          [
            'conns',
            'bare Yoga req/s',
            'Postline req/s',
            'Postline ÷ bare (req/s)',
            'bare Yoga CPU ms/req',
            'Postline CPU ms/req',
            'Postline ÷ bare (CPU)',
          ],
          pairs.map(([c, bare, full]) => [
            String(c),
            fmt(bare?.rps, 0),
            fmt(full?.rps, 0),
            x(div(full?.rps, bare?.rps)),
            cpuMs(bare),
            cpuMs(full),
            x(div(full?.cpu?.msPerRequest, bare?.cpu?.msPerRequest)),
          ]),
        ),
      );
    }
  }

  out.push('', '### Scenarios', '');
  out.push(
    table(
      [
        'scenario',
        'variant',
        'cache',
        'conns',
        'req/s',
        'p50 ms',
        'p95 ms',
        'p99 ms',
        'errors',
        'CPU ms/req',
        'SQL/req',
        'DB ms/req',
        'stmt p50/p95 ms',
        'pool util',
        'acquire wait p99 ms',
        'cache hits',
        'RSS MB',
      ],
      report.runs.map((r) => [
        r.scenario,
        r.variant,
        r.cache,
        String(r.connections),
        fmt(r.rps, 0),
        fmt(r.load.latency.p50, 2),
        fmt(r.load.latency.p95, 2),
        fmt(r.load.latency.p99, 2),
        pct(r.errorRate, 2),
        cpuMs(r),
        fmt(r.server?.sqlPerRequest, 2),
        fmt(r.server?.dbMsPerRequest, 2),
        `${fmt(r.server?.statementP50Ms, 2)} / ${fmt(r.server?.statementP95Ms, 2)}`,
        pct(r.server?.poolUtilization, 0),
        fmt(r.server?.acquireWaitP99Ms, 2),
        pct(r.server?.cacheHitRate, 1),
        fmt(r.server?.rssMb, 0),
      ]),
    ),
  );

  if (report.baselines.length) {
    out.push('', '### Ratios to the baselines (same connection level)', '');
    out.push(
      "`÷ typename`: the figure divided by Postline answering `{ __typename }` (same plugins, no resolver, no SQL); `÷ SQL`: divided by the same shape as one SQL statement through `pg` (feed, node lookup, deep page; the feed for other scenarios; its SQL/req is 1, its DB time is its latency, its CPU is the `pg` client's).",
      '',
    );
    out.push(
      table(
        [
          'scenario',
          'variant',
          'cache',
          'conns',
          'req/s ÷ typename',
          'req/s ÷ SQL',
          'p50 ÷ typename',
          'p50 ÷ SQL',
          'p95 ÷ typename',
          'p95 ÷ SQL',
          'p99 ÷ typename',
          'p99 ÷ SQL',
          'SQL/req ÷ SQL',
          'DB ms/req ÷ SQL',
          'CPU ÷ typename',
          'CPU ÷ SQL',
          'RSS ÷ typename',
        ],
        report.runs.map((r) => {
          const y = baselineFor(report, 'typename', r.connections);
          const q = baselineFor(report, sqlBaselineOf(r.scenario), r.connections);
          const lat = r.load.latency;
          return [
            r.scenario,
            r.variant,
            r.cache,
            String(r.connections),
            x(div(r.rps, y?.rps)),
            x(div(r.rps, q?.rps)),
            x(div(lat.p50, y?.load.latency.p50)),
            x(div(lat.p50, q?.load.latency.p50)),
            x(div(lat.p95, y?.load.latency.p95)),
            x(div(lat.p95, q?.load.latency.p95)),
            x(div(lat.p99, y?.load.latency.p99)),
            x(div(lat.p99, q?.load.latency.p99)),
            x(q ? div(r.server?.sqlPerRequest, 1) : null),
            x(div(r.server?.dbMsPerRequest, q?.load.latency.mean)),
            x(div(r.cpu?.msPerRequest, y?.cpu?.msPerRequest)),
            x(div(r.cpu?.msPerRequest, q?.cpu?.msPerRequest)),
            x(div(r.server?.rssMb, y?.server?.rssMb)),
          ];
        }),
      ),
    );
  }

  if (report.deepPage.length) {
    const conns = Math.min(...report.settings.deepPageConnections);
    const cache = report.settings.cacheModes[0] ?? 'off';
    out.push('', `### Deep page: p50 by depth (${conns} connection, cache ${cache})`, '');
    out.push(
      table(
        [
          'order',
          'depth',
          'depth at 1M posts',
          'cursor p50 ms',
          '÷ depth 1',
          'CPU ms/req',
          'OFFSET in SQL p50 ms',
          'OFFSET ÷ cursor',
        ],
        report.deepPage.map((d) => {
          const run = report.runs.find(
            (r) =>
              r.scenario === 'deep-page' &&
              r.variant === deepVariant(d) &&
              r.connections === conns &&
              r.cache === cache,
          );
          const first = report.runs.find(
            (r) =>
              r.scenario === 'deep-page' &&
              r.variant === deepVariant({ field: d.field, depth: 1 }) &&
              r.connections === conns &&
              r.cache === cache,
          );
          const p50 = run?.load.latency.p50 ?? null;
          return [
            d.field,
            d.depth.toLocaleString('en'),
            d.nominal.toLocaleString('en'),
            fmt(p50, 2),
            x(div(p50, first?.load.latency.p50)),
            cpuMs(run),
            fmt(d.offsetP50Ms, 2),
            x(div(d.offsetP50Ms, p50)),
          ];
        }),
      ),
    );
  }

  const mixed = report.runs.filter((r) => r.scenario === 'mixed');
  if (mixed.length) {
    out.push('', '### Mixed: writes and stale reads', '');
    out.push(
      table(
        [
          'cache',
          'conns',
          'requests',
          'writes',
          'checked reads after a write',
          'stale reads',
          'errors',
          'cache hits',
        ],
        mixed.map((r) => [
          r.cache,
          String(r.connections),
          String(r.load.requests),
          String(r.load.writes ?? 0),
          String(r.load.checks ?? 0),
          String(r.load.staleReads ?? 0),
          pct(r.errorRate, 2),
          pct(r.server?.cacheHitRate, 1),
        ]),
      ),
    );
  }

  if (report.pageSizes.length) {
    out.push('', '### SQL statements per `posts` request by page size (feed query, cache off)', '');
    out.push(
      table(
        ['first', 'SQL statements per request'],
        report.pageSizes.map((p) => [String(p.first), fmt(p.sqlPerRequest, 2)]),
      ),
    );
  }

  const errors = [...report.baselines, ...report.runs].filter((r) => r.load.errorSamples.length);
  if (errors.length) {
    out.push('', '### Error samples', '');
    for (const r of errors) {
      out.push(
        `- ${r.scenario} ${r.variant} (cache ${r.cache}, ${r.connections} conns): ${r.load.errorSamples.map((e) => `\`${e.replaceAll('`', "'")}\``).join('; ')}`,
      );
    }
  }

  if (report.charts.length) {
    out.push('', '### Charts', '');
    out.push(
      report.charts
        .map((c) => `![${path.basename(c, '.svg')}](${c.split(path.sep).join('/')})`)
        .join('\n\n'),
    );
  }

  out.push('', '### Targets (reported, never enforced)', '');
  out.push(
    table(
      ['issue', 'target', 'measured', 'result'],
      report.targets.map((t) => [t.issue, t.target, t.measured, t.result]),
    ),
  );
  return out.join('\n');
}

export const deepVariant = (d: { field: string; depth: number }) => `${d.field} @ ${d.depth}`;

const HEADER = `# Postline benchmarks

Written by \`npm run bench\` (see the "Benchmarks" section of README.md for what each column means). Each
section is one labelled run; a new run replaces the section with its label and keeps the others.
Raw figures of every run are in \`bench/results/\`, charts in \`bench/results/charts/<label>/\`.
`;

/** Replaces (or appends) the section of `label` in `file`. */
export async function writeMarkdown(file: string, label: string, section: string): Promise<void> {
  const begin = `<!-- bench:begin ${label} -->`;
  const end = `<!-- bench:end ${label} -->`;
  const block = `${begin}\n${section}\n${end}`;
  let text = existsSync(file) ? await readFile(file, 'utf8') : HEADER;
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from >= 0 && to > from) {
    text = text.slice(0, from) + block + text.slice(to + end.length);
  } else {
    text = `${text.trimEnd()}\n\n${block}\n`;
  }
  await writeFile(file, text);
}

export async function writeJson(
  dir: string,
  report: { date: string; label: string },
): Promise<string> {
  await mkdir(dir, { recursive: true });
  const stamp = report.date.replace(/[:.]/g, '-');
  const file = path.join(dir, `${stamp}-${report.label.replace(/[^\w.-]+/g, '_')}.json`);
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}
