/**
 * The Grafana dashboard (deploy/grafana/postline.json) and the Prometheus alert rules
 * (deploy/prometheus/alerts.yml) against what a running Postline exposes: every PromQL
 * expression parses, and every metric it names is on /metrics after a few requests and a job
 * (`up` comes from Prometheus itself). The job queue series follow the queue; a worker's
 * WORKER_METRICS_PORT counts the attempts it ran. With promtool installed (Debian's
 * `prometheus` package), the rules also pass `promtool check rules` and their unit tests.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { parser } from '@prometheus-io/lezer-promql';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ADMIN } from './fixtures.ts';
import { gid, useTestApp } from './harness.ts';
import { FAST_JOBS_ENV, useRunner, waitForJob } from './jobs-helpers.ts';
import { eventually } from './wait.ts';
import { startWorkerProcess } from './worker-process.ts';

const DASHBOARD = 'deploy/grafana/postline.json';
const ALERTS = 'deploy/prometheus/alerts.yml';
const ALERT_TESTS = 'deploy/prometheus/alerts.test.yml';
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's import placeholder, not a template
const DS_UID = '${DS_PROMETHEUS}';
const DATASOURCE = { type: 'prometheus', uid: DS_UID };
/** Series Prometheus adds to every target itself. */
const FROM_PROMETHEUS = new Set(['up']);

const t = await useTestApp({ ...FAST_JOBS_ENV, RESPONSE_CACHE: 'memory' });
const runner = await useRunner(t);

const scrape = async () => (await t.app.yoga.fetch('http://postline.test/metrics')).text();

/** Metric names a scrape exposes: each family with its histogram/summary series. */
function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\w+)/.exec(line);
    if (type) {
      const [, name, kind] = type as unknown as [string, string, string];
      names.add(name);
      if (kind === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
      if (kind === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
    } else if (line && !line.startsWith('#')) {
      names.add(line.split(/[{ ]/)[0] as string);
    }
  }
  return names;
}

/** The value of one sample line (`name{labels}`), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Grafana's variables as Prometheus would see them after substitution. */
const substitute = (expr: string) =>
  expr
    .replaceAll('$__rate_interval', '5m')
    .replaceAll('$__interval', '1m')
    .replaceAll('$__range', '1h')
    .replace(/\$\{?(\w+)\}?/g, '.*');

/** Parses PromQL; returns the metric names it selects, or throws with the position of an error. */
function metricNames(expr: string): string[] {
  const tree = parser.parse(expr);
  const names: string[] = [];
  tree.iterate({
    enter(node) {
      if (node.type.isError) {
        throw new Error(
          `PromQL syntax error at ${node.from}: ${expr.slice(node.from, node.from + 40)}`,
        );
      }
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') {
        names.push(expr.slice(node.from, node.to));
      }
    },
  });
  return names;
}

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: { expr: string; datasource: { uid: string } }[];
  panels?: Panel[];
}

let exposed = new Set<string>();
let scraped = '';

/** A few requests (a cache miss and hit, a mutation) and a job, then one scrape. */
beforeAll(async () => {
  const feed = 'query Feed { posts(first: 3) { edges { node { id title } } } }';
  await t.gql(feed, {}, { as: ADMIN });
  await t.gql(feed, {}, { as: ADMIN }); // a cache hit
  const [post] = await t.sql('SELECT id FROM posts ORDER BY id LIMIT 1');
  await t.gql(
    'mutation($id: ID!) { updatePost(input: { id: $id, title: "Metrics" }) { post { id } } }',
    { id: gid('Post', post.id) },
    { as: ADMIN },
  );
  const res = await t.gql(
    'mutation { recomputeAnalytics(input: {}) { job { id } } }',
    {},
    {
      as: ADMIN,
    },
  );
  await waitForJob(t, res.data?.recomputeAnalytics.job.id);
  scraped = await scrape();
  exposed = exposedNames(scraped);
});

describe('monitoring files against a running app', () => {
  it('after requests and a job, /metrics has the job, queue and readiness series', () => {
    const text = scraped;
    expect(sample(text, 'postline_ready')).toBe(1);
    expect(sample(text, 'postline_job_runners')).toBe(1);
    expect(
      sample(text, 'postline_job_attempts_total{kind="computeAnalytics",outcome="succeeded"}'),
    ).toBe(1);
    expect(sample(text, 'postline_jobs_pending{kind="computeAnalytics",status="queued"}')).toBe(0);
    expect(sample(text, 'postline_job_queue_oldest_ready_seconds')).toBe(0);
  });

  it('the dashboard imports as is and queries only series the app exposes', async () => {
    const dash = JSON.parse(await readFile(DASHBOARD, 'utf8'));
    expect(dash.__inputs).toEqual([
      expect.objectContaining({
        name: 'DS_PROMETHEUS',
        type: 'datasource',
        pluginId: 'prometheus',
      }),
    ]);
    expect(dash.__requires).toEqual(
      expect.arrayContaining([expect.objectContaining({ type: 'datasource', id: 'prometheus' })]),
    );
    expect(dash.schemaVersion).toBeGreaterThanOrEqual(39);
    expect(dash.id).toBeNull();
    expect(dash.uid).toMatch(/^[\w-]{1,40}$/);
    const panels: Panel[] = dash.panels.flatMap((p: Panel) => [p, ...(p.panels ?? [])]);
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    const titles = new Set<string>();
    const used = new Set<string>();
    let exprs = 0;
    for (const p of panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      if (p.type === 'row') continue;
      titles.add(p.title);
      expect(p.datasource, p.title).toEqual(DATASOURCE);
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const target of p.targets ?? []) {
        expect(target.datasource.uid).toBe(DS_UID);
        for (const name of metricNames(substitute(target.expr))) used.add(name);
        exprs++;
      }
    }
    for (const v of dash.templating.list) {
      expect(v.datasource).toEqual(DATASOURCE);
      const selector = /^label_values\((.+), \w+\)$/.exec(v.definition)?.[1];
      expect(selector, v.name).toBeDefined();
      metricNames(substitute(selector as string));
      expect([...exposed].some((n) => /^postline_.+$/.test(n))).toBe(true);
    }
    expect(exprs).toBeGreaterThan(30);
    // What the brief asks to see: rate and latency by operation, errors, cache hit rate,
    // pool use and acquire wait, job queue depth and outcomes.
    for (const name of [
      'postline_graphql_operation_duration_seconds_count',
      'postline_graphql_operation_duration_seconds_bucket',
      'postline_response_cache_requests_total',
      'postline_db_pool_utilization_ratio',
      'postline_db_pool_acquire_wait_seconds_bucket',
      'postline_jobs_pending',
      'postline_job_attempts_total',
    ]) {
      expect(used).toContain(name);
    }
    const unknown = [...used].filter((n) => !exposed.has(n) && !FROM_PROMETHEUS.has(n));
    expect(unknown).toEqual([]);
  });

  it('the alert rules are well formed and use only series the app exposes', async () => {
    const doc = parseYaml(await readFile(ALERTS, 'utf8'));
    expect(Object.keys(doc)).toEqual(['groups']);
    expect(doc.groups.length).toBeGreaterThan(0);
    const groupNames = new Set<string>();
    const alertNames = new Set<string>();
    const used = new Set<string>();
    for (const group of doc.groups) {
      expect(typeof group.name).toBe('string');
      expect(groupNames.has(group.name)).toBe(false);
      groupNames.add(group.name);
      expect(group.rules.length).toBeGreaterThan(0);
      for (const rule of group.rules) {
        expect(
          Object.keys(rule).every((k) =>
            ['alert', 'expr', 'for', 'keep_firing_for', 'labels', 'annotations'].includes(k),
          ),
          rule.alert,
        ).toBe(true);
        expect(rule.alert).toMatch(/^Postline[A-Z]\w+$/);
        expect(alertNames.has(rule.alert)).toBe(false);
        alertNames.add(rule.alert);
        expect(rule.for, rule.alert).toMatch(/^\d+[smh]$/);
        expect(['critical', 'warning'], rule.alert).toContain(rule.labels?.severity);
        expect(typeof rule.annotations?.summary, rule.alert).toBe('string');
        expect(typeof rule.annotations?.description, rule.alert).toBe('string');
        for (const name of metricNames(rule.expr)) used.add(name);
      }
    }
    // The conditions an operator must act on.
    for (const alert of [
      'PostlineInstanceDown',
      'PostlineNotReady',
      'PostlineHighErrorRate',
      'PostlineHighLatency',
      'PostlineDbPoolSaturated',
      'PostlineDbPoolAcquireTimeouts',
      'PostlineCacheHitRateCollapsed',
      'PostlineJobsFailing',
      'PostlineJobBacklog',
    ]) {
      expect(alertNames).toContain(alert);
    }
    const unknown = [...used].filter((n) => !exposed.has(n) && !FROM_PROMETHEUS.has(n));
    expect(unknown).toEqual([]);
  });

  const promtool = spawnSync('promtool', ['--version']).status === 0;
  if (!promtool) {
    process.stdout.write(
      'promtool not found: skipping `promtool check rules` / `promtool test rules` (apt-get install prometheus)\n',
    );
  }
  it.runIf(promtool)('promtool accepts the rules and their unit tests pass', () => {
    expect(execFileSync('promtool', ['check', 'rules', ALERTS]).toString()).toMatch(/SUCCESS/);
    expect(execFileSync('promtool', ['test', 'rules', ALERT_TESTS]).toString()).toMatch(/SUCCESS/);
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('job queue series and a worker metrics endpoint', () => {
  it('a queued job shows while no runner is alive; a worker runs it and counts the attempt', {
    timeout: 90_000,
  }, async () => {
    await runner.stop(5000);
    const res = await t.gql(
      'mutation { recomputeAnalytics(input: {}) { job { id } } }',
      {},
      {
        as: ADMIN,
      },
    );
    const jobId = res.data?.recomputeAnalytics.job.id as string;
    const queued = await scrape();
    expect(sample(queued, 'postline_jobs_pending{kind="computeAnalytics",status="queued"}')).toBe(
      1,
    );
    expect(sample(queued, 'postline_job_queue_ready')).toBeGreaterThanOrEqual(1);
    expect(sample(queued, 'postline_job_runners')).toBe(0);

    const port = await freePort();
    await startWorkerProcess({
      DATABASE_URL: t.url,
      WORKER_METRICS_PORT: String(port),
      HOST: '127.0.0.1',
    });
    expect((await waitForJob(t, jobId, undefined, 60_000)).status).toBe('SUCCEEDED');
    const worker = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(
      sample(worker, 'postline_job_attempts_total{kind="computeAnalytics",outcome="succeeded"}'),
    ).toBe(1);
    const workerNames = exposedNames(worker);
    for (const name of [
      'postline_job_attempt_duration_seconds_bucket',
      'process_cpu_seconds_total',
      'nodejs_eventloop_lag_p99_seconds',
    ]) {
      expect(workerNames).toContain(name);
    }
    await eventually(
      async () => {
        const text = await scrape();
        return (
          sample(text, 'postline_jobs_pending{kind="computeAnalytics",status="queued"}') === 0 &&
          sample(text, 'postline_job_runners') === 1
        );
      },
      { timeoutMs: 10_000, what: 'the queue series show the job done and the worker alive' },
    );
  });
});
