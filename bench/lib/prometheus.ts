/**
 * Reads the server's /metrics (Prometheus text format) and turns two scrapes into per-run
 * figures. Metric names other engineers may add are matched by pattern and reported as
 * missing (`undefined`) when absent.
 */
import { BENCH_METRICS_TOKEN } from './server.ts';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export type Snapshot = Sample[];

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseMetrics(text: string): Snapshot {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1] as string] = l[2] as string;
    const raw = m[3] as string;
    const value = raw === '+Inf' ? Number.POSITIVE_INFINITY : Number(raw);
    out.push({ name: m[1] as string, labels, value });
  }
  return out;
}

export async function scrape(baseUrl: string): Promise<Snapshot> {
  const res = await fetch(`${baseUrl}/metrics`, {
    headers: { authorization: `Bearer ${BENCH_METRICS_TOKEN}` },
  });
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  return parseMetrics(await res.text());
}

type LabelFilter = Record<string, string>;
const matches = (s: Sample, name: string, filter?: LabelFilter) =>
  s.name === name && (!filter || Object.entries(filter).every(([k, v]) => s.labels[k] === v));

/** Sum of every series of `name` (matching `filter`); undefined when the metric is absent. */
export function total(snap: Snapshot, name: string, filter?: LabelFilter): number | undefined {
  let found = false;
  let sum = 0;
  for (const s of snap) {
    if (matches(s, name, filter)) {
      found = true;
      sum += s.value;
    }
  }
  return found ? sum : undefined;
}

/** Increase of a counter (or histogram `_sum`/`_count`) between two scrapes. */
export function delta(
  before: Snapshot,
  after: Snapshot,
  name: string,
  filter?: LabelFilter,
): number | undefined {
  const a = total(after, name, filter);
  if (a === undefined) return undefined;
  return a - (total(before, name, filter) ?? 0);
}

/** First metric name matching `pattern`, for metrics whose exact name is not fixed yet. */
export function findName(snap: Snapshot, pattern: RegExp): string | undefined {
  return snap.find((s) => pattern.test(s.name))?.name;
}

/**
 * Quantile (0..1) of the observations a histogram gained between two scrapes, interpolated
 * inside the bucket like Prometheus' `histogram_quantile`. Series are merged across labels.
 */
export function histogramQuantile(
  before: Snapshot,
  after: Snapshot,
  name: string,
  q: number,
): number | undefined {
  const buckets = new Map<number, number>();
  for (const [snap, sign] of [
    [after, 1],
    [before, -1],
  ] as const) {
    for (const s of snap) {
      if (s.name !== `${name}_bucket` || s.labels.le === undefined) continue;
      const le = s.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.labels.le);
      buckets.set(le, (buckets.get(le) ?? 0) + sign * s.value);
    }
  }
  if (buckets.size === 0) return undefined;
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const count = sorted[sorted.length - 1]?.[1] ?? 0;
  if (count <= 0) return undefined;
  const rank = q * count;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, cumulative] of sorted) {
    if (cumulative >= rank) {
      if (le === Number.POSITIVE_INFINITY) return prevLe;
      const inBucket = cumulative - prevCount;
      return inBucket > 0 ? prevLe + ((le - prevLe) * (rank - prevCount)) / inBucket : le;
    }
    prevLe = le;
    prevCount = cumulative;
  }
  return prevLe;
}
