/**
 * One measured run: warm-up, scrape /metrics, drive the load while sampling the pool and
 * memory gauges, scrape again, and turn both into per-request server figures. The server's
 * CPU time is read from /proc when the measured window begins and when it ends.
 */
import { loadConfig } from '../../src/config.ts';
import { type CpuFigures, cpuFigures, processCpuSeconds, processRssMb } from './cpu.ts';
import type { LoadGenerator } from './load-client.ts';
import { delta, findName, histogramQuantile, type Snapshot, scrape, total } from './prometheus.ts';
import type { RunningServer } from './server.ts';
import type { LoadRequest, LoadResult } from './types.ts';

/** Server-side figures of a run; `null` when the server does not expose the metric. */
export interface ServerFigures {
  sqlPerRequest: number | null;
  dbMsPerRequest: number | null;
  statementP50Ms: number | null;
  statementP95Ms: number | null;
  poolUtilization: number | null;
  poolInUseMax: number | null;
  poolWaitingMax: number | null;
  acquireWaitMeanMs: number | null;
  acquireWaitP99Ms: number | null;
  cacheHitRate: number | null;
  rssMb: number | null;
}

export interface RunRecord {
  scenario: string;
  /** e.g. `CREATED_AT @ 900000` for deep-page. */
  variant: string;
  cache: 'off' | 'on' | 'n/a';
  connections: number;
  rps: number;
  errorRate: number;
  load: LoadResult;
  server: ServerFigures | null;
  /**
   * CPU time of the server process in the measured window, per request the load generator
   * completed in it. SQL baselines: the load process's own CPU (the `pg` client).
   */
  cpu: CpuFigures | null;
}

const NO_FIGURES: ServerFigures = {
  sqlPerRequest: null,
  dbMsPerRequest: null,
  statementP50Ms: null,
  statementP95Ms: null,
  poolUtilization: null,
  poolInUseMax: null,
  poolWaitingMax: null,
  acquireWaitMeanMs: null,
  acquireWaitP99Ms: null,
  cacheHitRate: null,
  rssMb: null,
};

const METRIC = {
  statements: 'postline_sql_statements_per_request',
  /** Wall time of a statement, including the wait for a busy event loop. */
  sqlDuration: 'postline_sql_statement_duration_seconds',
  /** The same statements with the event-loop wait taken out (servers since #13). */
  sqlDbDuration: 'postline_sql_statement_db_duration_seconds',
  poolConnections: 'postline_db_pool_connections',
  rss: 'process_resident_memory_bytes',
  http: 'postline_http_request_duration_seconds',
};

const ratio = (a: number | undefined, b: number) => (a === undefined || b <= 0 ? null : a / b);

/** Largest pool the server may open, from its metrics or else from its configuration. */
function poolMax(snap: Snapshot, env: Record<string, string>): number | null {
  const fromMetric =
    total(snap, METRIC.poolConnections, { state: 'max' }) ??
    total(snap, 'postline_db_pool_max_connections') ??
    total(snap, 'postline_db_pool_max');
  if (fromMetric) return fromMetric;
  try {
    const { pool } = loadConfig(env);
    return pool.size + pool.maxOverflow;
  } catch {
    return null;
  }
}

/** Hits and misses from whatever `postline_response_cache_*` counters exist. */
function cacheCounts(before: Snapshot, after: Snapshot): { hits: number; misses: number } | null {
  let hits = 0;
  let misses = 0;
  let found = false;
  const add = (
    s: { name: string; labels: Record<string, string>; value: number },
    sign: number,
  ) => {
    if (!s.name.startsWith('postline_response_cache_') || !s.name.endsWith('_total')) return;
    const outcome = s.labels.result ?? s.labels.outcome ?? s.labels.status ?? '';
    const isHit =
      /hits?_total$/.test(s.name) || (/requests|lookups/.test(s.name) && outcome === 'hit');
    const isMiss =
      /miss(es)?_total$/.test(s.name) || (/requests|lookups/.test(s.name) && outcome === 'miss');
    if (isHit) hits += sign * s.value;
    if (isMiss) misses += sign * s.value;
    if (isHit || isMiss) found = true;
  };
  for (const s of after) add(s, 1);
  for (const s of before) add(s, -1);
  return found ? { hits, misses } : null;
}

function serverFigures(
  before: Snapshot,
  after: Snapshot,
  samples: Snapshot[],
  requests: number,
  env: Record<string, string>,
): ServerFigures {
  // Requests the server finished in the window (cache hits included); the client's count
  // when the server has no HTTP histogram.
  const served = delta(before, after, `${METRIC.http}_count`, { route: '/graphql' }) ?? requests;
  const perRequest = (v: number | undefined, scale = 1) =>
    v === undefined || served === 0 ? null : (v * scale) / served;
  const ms = (v: number | undefined) => (v === undefined ? null : v * 1000);

  const all = [...samples, after];
  const series = (name: string, filter?: Record<string, string>) =>
    all.map((s) => total(s, name, filter)).filter((v): v is number => v !== undefined);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  const maxOf = (xs: number[]) => (xs.length ? Math.max(...xs) : null);

  const utilizationGauge = findName(after, /^postline_db_pool_utilization(_ratio)?$/);
  const inUse = series(METRIC.poolConnections, { state: 'in_use' });
  const max = poolMax(after, env);
  const poolUtilization = utilizationGauge
    ? mean(series(utilizationGauge))
    : inUse.length && max
      ? (mean(inUse) as number) / max
      : null;

  const acquireSum = findName(after, /^postline_db_pool_acquire\w*_seconds_sum$/);
  const acquire = acquireSum?.replace(/_sum$/, '');
  const acquireCount = acquire ? delta(before, after, `${acquire}_count`) : undefined;
  const acquireTotal = acquire ? delta(before, after, `${acquire}_sum`) : undefined;

  const cache = cacheCounts(before, after);
  const lookups = cache ? cache.hits + cache.misses : 0;
  const rss = maxOf(series(METRIC.rss));

  // Database time when the server reports it apart from the event-loop wait, else wall time
  // (older servers, e.g. the "before" side of --compare).
  const sqlTime =
    findName(after, new RegExp(`^${METRIC.sqlDbDuration}_sum$`)) !== undefined
      ? METRIC.sqlDbDuration
      : METRIC.sqlDuration;
  return {
    sqlPerRequest: perRequest(delta(before, after, `${METRIC.statements}_sum`)),
    dbMsPerRequest: perRequest(delta(before, after, `${sqlTime}_sum`), 1000),
    statementP50Ms: ms(histogramQuantile(before, after, sqlTime, 0.5)),
    statementP95Ms: ms(histogramQuantile(before, after, sqlTime, 0.95)),
    poolUtilization,
    poolInUseMax: maxOf(inUse),
    poolWaitingMax: maxOf(series(METRIC.poolConnections, { state: 'waiting' })),
    acquireWaitMeanMs:
      acquireCount && acquireTotal !== undefined ? (acquireTotal / acquireCount) * 1000 : null,
    acquireWaitP99Ms: acquire ? ms(histogramQuantile(before, after, acquire, 0.99)) : null,
    cacheHitRate: cache && lookups > 0 ? ratio(cache.hits, lookups) : null,
    rssMb: rss === null ? null : rss / 2 ** 20,
  };
}

export function errorRate(load: LoadResult): number {
  const bad = load.non2xx + load.graphqlErrors + load.transportErrors + load.timeouts;
  const all = load.requests + load.transportErrors + load.timeouts;
  return all ? bad / all : 0;
}

export async function measure(opts: {
  load: LoadGenerator;
  request: LoadRequest;
  /** Warm-up seconds when `request.warmupS` is not given. */
  warmupS?: number;
  /** The server to measure (its /metrics when it has them, its CPU); none for SQL baselines. */
  server: RunningServer | null;
  scenario: string;
  variant: string;
  cache: RunRecord['cache'];
}): Promise<RunRecord> {
  const { load, server } = opts;
  const metrics = server?.metrics ? server : null;
  const request = { ...opts.request, warmupS: opts.request.warmupS ?? opts.warmupS ?? 0 };
  const samples: Snapshot[] = [];
  let before: Promise<Snapshot> | null = null;
  let sampling = Promise.resolve();
  let timer: ReturnType<typeof setInterval> | null = null;
  const cpu = { start: null as number | null, end: null as number | null, t0: 0, t1: 0 };
  // Measuring starts when the worker says the warm-up is over: read the CPU time, scrape,
  // then sample the gauges (pool, memory) every half second until the run ends.
  const rss: number[] = [];
  const onWarm = () => {
    if (!server) return;
    cpu.t0 = performance.now();
    cpu.start = processCpuSeconds(server.pid);
    if (!metrics) {
      // No /metrics (the bare Yoga): its memory from /proc, sampled the same way.
      const sample = () => {
        const mb = processRssMb(server.pid);
        if (mb !== null) rss.push(mb);
      };
      sample();
      timer = setInterval(sample, 500);
      return;
    }
    before = scrape(metrics.baseUrl);
    timer = setInterval(() => {
      sampling = sampling.then(() =>
        scrape(metrics.baseUrl).then(
          (s) => void samples.push(s),
          () => {},
        ),
      );
    }, 500);
  };
  const onEnd = () => {
    if (!server) return;
    cpu.t1 = performance.now();
    cpu.end = processCpuSeconds(server.pid);
    if (!metrics) {
      const mb = processRssMb(server.pid);
      if (mb !== null) rss.push(mb);
    }
  };
  let result: LoadResult;
  try {
    result = await load.run(request, { onWarm, onEnd });
  } finally {
    if (timer) clearInterval(timer);
    await sampling;
  }
  const after = metrics ? await scrape(metrics.baseUrl) : null;
  const first = before ? await (before as Promise<Snapshot>) : null;
  return {
    scenario: opts.scenario,
    variant: opts.variant,
    cache: opts.cache,
    connections: request.connections,
    rps: result.requests / result.durationS,
    errorRate: errorRate(result),
    load: result,
    server:
      metrics && first && after
        ? serverFigures(first, after, samples, result.requests, metrics.env)
        : rss.length
          ? { ...NO_FIGURES, rssMb: Math.max(...rss) }
          : null,
    cpu: cpuOf(result, cpu, first, after),
  };
}

/**
 * /proc when both readings exist; else the server's `process_cpu_seconds_total` between the
 * two scrapes (a slightly longer window); for SQL baselines the load process's own figure.
 */
function cpuOf(
  result: LoadResult,
  cpu: { start: number | null; end: number | null; t0: number; t1: number },
  first: Snapshot | null,
  after: Snapshot | null,
): CpuFigures | null {
  if (result.clientCpuS !== undefined) {
    return cpuFigures(result.clientCpuS, result.requests, result.durationS, 'self');
  }
  if (cpu.start !== null && cpu.end !== null) {
    return cpuFigures(cpu.end - cpu.start, result.requests, (cpu.t1 - cpu.t0) / 1000, 'proc');
  }
  const fromMetrics = first && after ? delta(first, after, 'process_cpu_seconds_total') : undefined;
  return fromMetrics === undefined
    ? null
    : cpuFigures(fromMetrics, result.requests, result.durationS, 'metrics');
}
