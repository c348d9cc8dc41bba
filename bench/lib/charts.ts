/**
 * SVG charts of a run, written by the harness itself (plain SVG text, no dependency, no
 * network): for each scenario req/s and p95 against connections, and for the deep page p50
 * against depth. They go to bench/results/charts/<label>/ and are replaced by the next run
 * with the same label, like its BENCHMARKS.md section.
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunRecord } from './measure.ts';
import type { Report } from './report.ts';
import { BASELINE_NAMES, deepVariant } from './report.ts';

export interface Point {
  x: number;
  y: number;
}

export interface Series {
  name: string;
  points: Point[];
  color: string;
  /** SVG stroke-dasharray, e.g. `6 4`; solid when absent. */
  dash?: string;
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
}

/** Colour-blind-friendly palette (Okabe-Ito), then greys. */
export const PALETTE = [
  '#0072B2',
  '#D55E00',
  '#009E73',
  '#CC79A7',
  '#E69F00',
  '#56B4E9',
  '#F0E442',
  '#000000',
  '#777777',
  '#BBBBBB',
];

const xml = (s: string) =>
  s
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');

/** 1, 16, 500, 10k, 900k, 1.5M. */
export function compact(n: number): string {
  if (n >= 1_000_000) return `${+(n / 1_000_000).toFixed(1)}M`;
  if (n >= 10_000) return `${+(n / 1000).toFixed(1)}k`;
  return n >= 100 ? String(Math.round(n)) : String(+n.toFixed(2));
}

/** A round step giving about `count` ticks from 0 to `max`. */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * power >= raw) ?? 10) * power;
  const ticks: number[] = [];
  for (let v = 0; v < max + step * 0.999; v += step) ticks.push(+v.toPrecision(12));
  return ticks;
}

const W = 460;
const H = 300;
const M = { top: 34, right: 24, bottom: 46, left: 62 };

/** One panel at (ox, oy): log-scale x (the values measured), linear y from 0. */
function panel(p: Panel, ox: number, oy: number): string {
  const points = p.series.flatMap((s) => s.points).filter((q) => Number.isFinite(q.y) && q.x > 0);
  const xs = [...new Set(points.map((q) => q.x))].sort((a, b) => a - b);
  const yTicks = niceTicks(Math.max(0, ...points.map((q) => q.y)));
  const yMax = yTicks[yTicks.length - 1] ?? 1;
  const x0 = Math.log10(xs[0] ?? 1);
  const x1 = Math.log10(xs[xs.length - 1] ?? 10);
  const span = x1 - x0 || 1;
  const iw = W - M.left - M.right;
  const ih = H - M.top - M.bottom;
  const sx = (x: number) =>
    ox + M.left + (xs.length > 1 ? ((Math.log10(x) - x0) / span) * iw : iw / 2);
  const sy = (y: number) => oy + M.top + ih - (y / yMax) * ih;
  const out: string[] = [];
  out.push(
    `<text x="${ox + M.left}" y="${oy + 20}" class="title">${xml(p.title)}</text>`,
    `<rect x="${ox + M.left}" y="${oy + M.top}" width="${iw}" height="${ih}" class="frame"/>`,
  );
  for (const t of yTicks) {
    const y = sy(t).toFixed(1);
    out.push(
      `<line x1="${ox + M.left}" x2="${ox + M.left + iw}" y1="${y}" y2="${y}" class="grid"/>`,
      `<text x="${ox + M.left - 6}" y="${y}" class="ytick">${compact(t)}</text>`,
    );
  }
  let lastLabel = Number.NEGATIVE_INFINITY;
  let lowered = false;
  for (const v of xs) {
    const x = sx(v);
    // Close ticks (500k and 900k on a log axis) take turns on two label rows.
    lowered = x - lastLabel < 34 ? !lowered : false;
    lastLabel = x;
    out.push(
      `<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${oy + M.top}" y2="${oy + M.top + ih}" class="grid"/>`,
      `<text x="${x.toFixed(1)}" y="${oy + M.top + ih + (lowered ? 28 : 16)}" class="xtick">${compact(v)}</text>`,
    );
  }
  out.push(
    `<text x="${ox + M.left + iw / 2}" y="${oy + H - 4}" class="axis">${xml(p.xLabel)}</text>`,
    `<text transform="translate(${ox + 14} ${oy + M.top + ih / 2}) rotate(-90)" class="axis">${xml(p.yLabel)}</text>`,
  );
  for (const s of p.series) {
    const pts = s.points.filter((q) => Number.isFinite(q.y) && q.x > 0).sort((a, b) => a.x - b.x);
    if (!pts.length) continue;
    const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : '';
    const d = pts.map((q) => `${sx(q.x).toFixed(1)},${sy(q.y).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${d}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
    for (const q of pts) {
      out.push(
        `<circle cx="${sx(q.x).toFixed(1)}" cy="${sy(q.y).toFixed(1)}" r="3" fill="${s.color}"><title>${xml(`${s.name}: ${compact(q.x)} → ${q.y.toFixed(2)}`)}</title></circle>`,
      );
    }
  }
  return out.join('\n');
}

/** A chart file: a heading, panels side by side, one legend under them. */
export function chartSvg(heading: string, panels: Panel[], note?: string): string {
  const legend = new Map<string, Series>();
  for (const p of panels) for (const s of p.series) if (!legend.has(s.name)) legend.set(s.name, s);
  const width = W * panels.length;
  const perRow = Math.max(1, Math.floor(width / 230));
  const legendRows = Math.ceil(legend.size / perRow);
  const top = 30;
  const height = top + H + 14 + legendRows * 18 + (note ? 18 : 0) + 6;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="11">`,
    '<style>.title{font-size:13px;font-weight:600}.heading{font-size:15px;font-weight:700}.frame{fill:none;stroke:#999}.grid{stroke:#e4e4e4}.ytick{text-anchor:end;dominant-baseline:middle;fill:#444}.xtick{text-anchor:middle;fill:#444}.axis{text-anchor:middle;fill:#222}.legend{dominant-baseline:middle;fill:#222}.note{fill:#555}</style>',
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="12" y="20" class="heading">${xml(heading)}</text>`,
  ];
  panels.forEach((p, i) => {
    out.push(panel(p, i * W, top));
  });
  [...legend.values()].forEach((s, i) => {
    const x = 12 + (i % perRow) * 230;
    const y = top + H + 14 + Math.floor(i / perRow) * 18;
    const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : '';
    out.push(
      `<line x1="${x}" x2="${x + 24}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="2"${dash}/>`,
      `<text x="${x + 30}" y="${y}" class="legend">${xml(s.name)}</text>`,
    );
  });
  if (note) {
    out.push(`<text x="12" y="${height - 8}" class="note">${xml(note)}</text>`);
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

const seriesKey = (r: RunRecord) =>
  r.cache === 'n/a' ? r.variant : `${r.variant}, cache ${r.cache}`;

/** One series per variant and cache mode of `runs`, with `pick` as y against connections. */
function byConnections(
  runs: RunRecord[],
  pick: (r: RunRecord) => number,
  name: (r: RunRecord) => string = seriesKey,
): Series[] {
  const groups = new Map<string, RunRecord[]>();
  for (const r of runs) {
    const key = name(r);
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups].map(([key, rs], i) => ({
    name: key,
    color: PALETTE[i % PALETTE.length] as string,
    dash: rs[0]?.cache === 'on' ? '6 3' : undefined,
    points: rs.map((r) => ({ x: r.connections, y: pick(r) })),
  }));
}

const connectionPanels = (runs: RunRecord[], name?: (r: RunRecord) => string): Panel[] => [
  {
    title: 'Throughput',
    xLabel: 'connections',
    yLabel: 'req/s',
    series: byConnections(runs, (r) => r.rps, name),
  },
  {
    title: 'Latency p95',
    xLabel: 'connections',
    yLabel: 'p95 ms',
    series: byConnections(runs, (r) => r.load.latency.p95, name),
  },
];

/** The charts of a report, as file name → SVG text. */
export function reportCharts(report: Omit<Report, 'targets' | 'charts'>): Map<string, string> {
  const files = new Map<string, string>();
  const data = `${report.database.posts.toLocaleString('en')} posts`;
  const where = `${report.label}: ${data}, Node ${report.runtime?.node ?? report.machine.node}, ${report.date.slice(0, 10)}`;
  const levels = (rs: RunRecord[]) => new Set(rs.map((r) => r.connections)).size;

  if (report.baselines.length && levels(report.baselines) > 1) {
    files.set(
      'baselines.svg',
      chartSvg(
        `Baselines by connections (${where})`,
        connectionPanels(report.baselines, (r) =>
          (BASELINE_NAMES[r.scenario] ?? r.scenario).replaceAll('`', ''),
        ),
      ),
    );
  }
  const scenarios = [...new Set(report.runs.map((r) => r.scenario))];
  for (const scenario of scenarios) {
    let runs = report.runs.filter((r) => r.scenario === scenario);
    if (scenario === 'deep-page') {
      // One order's depths: 16 variants x cache modes would be unreadable.
      runs = runs.filter((r) => r.variant.startsWith('CREATED_AT '));
    }
    if (levels(runs) < 2) continue;
    files.set(
      `${scenario}.svg`,
      chartSvg(
        `${scenario}${scenario === 'deep-page' ? ' (CREATED_AT)' : ''} by connections (${where})`,
        connectionPanels(runs),
        'Dashed: response cache on. x axis: connections, log scale.',
      ),
    );
  }

  const deep = report.runs.filter((r) => r.scenario === 'deep-page');
  if (report.deepPage.length && deep.length) {
    const conns = Math.min(...deep.map((r) => r.connections));
    const fields = [...new Set(report.deepPage.map((d) => d.field))];
    const cacheModes = [...new Set(deep.map((r) => r.cache))];
    const cursor: Series[] = [];
    const offset: Series[] = [];
    fields.forEach((field, i) => {
      const color = PALETTE[i % PALETTE.length] as string;
      const depths = report.deepPage.filter((d) => d.field === field);
      for (const cache of cacheModes) {
        cursor.push({
          name: `${field}, cache ${cache}`,
          color,
          dash: cache === 'on' ? '6 3' : undefined,
          points: depths.map((d) => ({
            x: d.depth,
            y:
              deep.find(
                (r) => r.variant === deepVariant(d) && r.connections === conns && r.cache === cache,
              )?.load.latency.p50 ?? Number.NaN,
          })),
        });
      }
      offset.push({
        name: `${field}, OFFSET in SQL`,
        color,
        dash: '2 3',
        points: depths.map((d) => ({ x: d.depth, y: d.offsetP50Ms })),
      });
    });
    files.set(
      'deep-page-depth.svg',
      chartSvg(
        `deep-page: p50 against depth, ${conns} connection${conns === 1 ? '' : 's'} (${where})`,
        [
          {
            title: 'Through the API (cursor)',
            xLabel: 'depth (rows before the page)',
            yLabel: 'p50 ms',
            series: cursor,
          },
          {
            title: 'The same page by OFFSET, in SQL',
            xLabel: 'depth (rows before the page)',
            yLabel: 'p50 ms',
            series: offset,
          },
        ],
        'x axis: depth, log scale. A flat line means the page costs the same at any depth.',
      ),
    );
  }
  return files;
}

/**
 * Writes the charts to bench/results/charts/<label>/ (removing that label's older SVGs) and
 * returns their paths relative to `root`.
 */
export async function writeCharts(
  root: string,
  report: Omit<Report, 'targets' | 'charts'>,
): Promise<string[]> {
  const files = reportCharts(report);
  if (!files.size) return [];
  const dir = path.join(root, 'bench/results/charts', report.label.replace(/[^\w.-]+/g, '_'));
  await mkdir(dir, { recursive: true });
  for (const old of await readdir(dir)) {
    if (old.endsWith('.svg')) await rm(path.join(dir, old));
  }
  const written: string[] = [];
  for (const [name, svg] of files) {
    await writeFile(path.join(dir, name), svg);
    written.push(path.relative(root, path.join(dir, name)));
  }
  return written;
}
