/**
 * The issues' performance targets, checked against a run's figures. Reporting only: a MISS
 * never changes the exit code.
 */
import { POST_ORDERS } from './fixtures.ts';
import type { RunRecord } from './measure.ts';
import { baselineFor, deepVariant, fmt, type Report } from './report.ts';

export interface Target {
  issue: string;
  target: string;
  measured: string;
  result: 'PASS' | 'MISS' | 'not run' | 'n/a';
}

const judge = (ok: boolean | null): Target['result'] =>
  ok === null ? 'n/a' : ok ? 'PASS' : 'MISS';
const notRun = (issue: string, target: string): Target => ({
  issue,
  target,
  measured: '—',
  result: 'not run',
});

export function evaluateTargets(report: Omit<Report, 'targets'>): Target[] {
  const find = (scenario: string, cache: string, connections: number) =>
    report.runs.find(
      (r) => r.scenario === scenario && r.cache === cache && r.connections === connections,
    );
  const t: Target[] = [];
  const full = report as Report;

  // #3 feed uncached
  const feedOff = find('feed', 'off', 16);
  if (feedOff) {
    t.push({
      issue: '#3',
      target: '`feed` uncached, 16 conns: ≥ 1,000 req/s',
      measured: `${fmt(feedOff.rps, 0)} req/s`,
      result: judge(feedOff.rps >= 1000),
    });
    t.push({
      issue: '#3',
      target: '`feed` uncached, 16 conns: p95 < 25 ms',
      measured: `${fmt(feedOff.load.latency.p95, 2)} ms`,
      result: judge(feedOff.load.latency.p95 < 25),
    });
    t.push({
      issue: '#3',
      target: '`feed` uncached, 16 conns: 0 errors',
      measured: errorsOf(feedOff),
      result: judge(feedOff.errorRate === 0),
    });
  } else t.push(notRun('#3', '`feed` uncached at 16 connections'));

  // #3 / #5 feed cached vs typename
  const feedOn = find('feed', 'on', 16);
  const yoga = baselineFor(full, 'typename', 16);
  if (feedOn && yoga) {
    const r = feedOn.rps / yoga.rps;
    t.push({
      issue: '#3 #5',
      target: '`feed` cached, 16 conns: ≥ 70% of `{ __typename }` req/s',
      measured: `${fmt(r * 100, 0)}% (${fmt(feedOn.rps, 0)} / ${fmt(yoga.rps, 0)})`,
      result: judge(r >= 0.7),
    });
  } else t.push(notRun('#3 #5', '`feed` cached vs `{ __typename }` at 16 connections'));

  // #3 / #6 deep page
  const deep = report.runs.filter((r) => r.scenario === 'deep-page');
  if (deep.length) {
    const conns = Math.min(...deep.map((r) => r.connections));
    const cache = deep.some((r) => r.cache === 'off') ? 'off' : 'on';
    for (const field of Object.keys(POST_ORDERS)) {
      const mine = report.deepPage.filter((d) => d.field === field);
      const deepest = mine[mine.length - 1];
      const first = mine[0];
      if (!deepest || !first) continue;
      const at = (depth: number) =>
        deep.find(
          (r) =>
            r.variant === deepVariant({ field, depth }) &&
            r.connections === conns &&
            r.cache === cache,
        );
      const a = at(first.depth);
      const b = at(deepest.depth);
      if (!a || !b) continue;
      const r = b.load.latency.p50 / a.load.latency.p50;
      t.push({
        issue: '#3 #6',
        target: `\`deep-page\` ${field}: p50 at depth ${deepest.depth.toLocaleString('en')} ≤ 1.25× depth 1`,
        measured: `${fmt(r, 2)}× (${fmt(b.load.latency.p50, 2)} / ${fmt(a.load.latency.p50, 2)} ms)`,
        result: judge(r <= 1.25),
      });
    }
  } else t.push(notRun('#3 #6', '`deep-page` p50 at depth 900,000 ≤ 1.25× depth 1'));

  // #3 / #5 mixed
  const mixed = report.runs.filter((r) => r.scenario === 'mixed');
  if (mixed.length) {
    const worst = mixed.reduce((a, b) => (b.errorRate > a.errorRate ? b : a));
    t.push({
      issue: '#3',
      target: '`mixed`: 0 errors (every run)',
      measured: errorsOf(worst),
      result: judge(mixed.every((r) => r.errorRate === 0)),
    });
    const stale = mixed.reduce((s, r) => s + (r.load.staleReads ?? 0), 0);
    const checks = mixed.reduce((s, r) => s + (r.load.checks ?? 0), 0);
    t.push({
      issue: '#3 #5',
      target: '`mixed`: no stale read (a read after a write sees it)',
      measured: `${stale} stale of ${checks} checked reads`,
      result: judge(checks > 0 ? stale === 0 : null),
    });
    const cached = mixed.filter((r) => r.cache === 'on');
    const rates = cached.map((r) => r.server?.cacheHitRate).filter((v): v is number => v != null);
    t.push({
      issue: '#3 #5',
      target: '`mixed` cached: hit rate ≥ 90% (plan floor: > 70%)',
      measured: rates.length
        ? rates.map((v) => `${fmt(v * 100, 1)}%`).join(', ')
        : cached.length
          ? 'no cache metrics on /metrics'
          : '—',
      result: rates.length
        ? judge(rates.every((v) => v >= 0.9))
        : cached.length
          ? 'n/a'
          : 'not run',
    });
  } else t.push(notRun('#3', '`mixed`: 0 errors, hit rate ≥ 90%, no stale read'));

  // #3 / #7 statements constant with page size
  const sizes = report.pageSizes.filter((p) => p.sqlPerRequest !== null);
  if (sizes.length > 1) {
    const counts = sizes.map((p) => p.sqlPerRequest as number);
    t.push({
      issue: '#3 #7',
      target: 'SQL statements per request constant as page size grows',
      measured: sizes.map((p) => `first ${p.first}: ${fmt(p.sqlPerRequest, 1)}`).join(', '),
      result: judge(counts.every((c) => Math.abs(c - (counts[0] as number)) < 0.01)),
    });
  } else t.push(notRun('#3 #7', 'SQL statements per request constant as page size grows'));

  // #7 DB statement latency for feed, node, dashboard
  for (const scenario of ['feed', 'node', 'dashboard']) {
    const runs = report.runs.filter((r) => r.scenario === scenario && r.cache === 'off');
    if (!runs.length) continue;
    const r = runs.reduce((a, b) => (b.connections < a.connections ? b : a));
    const p50 = r.server?.statementP50Ms ?? null;
    const p95 = r.server?.statementP95Ms ?? null;
    t.push({
      issue: '#7',
      target: `\`${scenario}\` SQL statements: p50 < 2 ms, p95 < 10 ms (${r.connections} conn)`,
      measured: `${fmt(p50, 2)} / ${fmt(p95, 2)} ms`,
      result: judge(p50 === null || p95 === null ? null : p50 < 2 && p95 < 10),
    });
  }

  // The original plan's floor
  if (feedOff) {
    const l = feedOff.load.latency;
    t.push({
      issue: 'plan floor',
      target: '`feed` uncached, 16 conns: p50 < 100 ms, p95 < 300 ms, ≥ 100 req/s',
      measured: `${fmt(l.p50, 1)} / ${fmt(l.p95, 1)} ms, ${fmt(feedOff.rps, 0)} req/s`,
      result: judge(l.p50 < 100 && l.p95 < 300 && feedOff.rps >= 100),
    });
    const p50 = feedOff.server?.statementP50Ms ?? null;
    const p95 = feedOff.server?.statementP95Ms ?? null;
    t.push({
      issue: 'plan floor',
      target: '`feed` uncached, 16 conns: DB statements p50 < 10 ms, p95 < 50 ms',
      measured: `${fmt(p50, 2)} / ${fmt(p95, 2)} ms`,
      result: judge(p50 === null || p95 === null ? null : p50 < 10 && p95 < 50),
    });
  }
  return t;
}

function errorsOf(r: RunRecord): string {
  const l = r.load;
  const n = l.non2xx + l.graphqlErrors + l.transportErrors + l.timeouts;
  return `${n} of ${l.requests} (${fmt(r.errorRate * 100, 2)}%)`;
}
