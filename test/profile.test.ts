/**
 * Profiling: `extensions.profile` for an ADMIN who asks and for nobody else; slow statements and
 * operations logged once, with redacted SQL; resolver and SQL metrics on /metrics; OpenTelemetry
 * spans posted to a real OTLP/HTTP receiver.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifySql, redactSql } from '../src/observability/profile.ts';
import { ADMIN, CLIENT1, EDITOR, MANAGER } from './fixtures.ts';
import { createTestApp, type TestApp } from './harness.ts';
import { captureLogs } from './logs.ts';
import { eventually, sleep } from './wait.ts';

const FEED = `query ProfiledFeed { posts(first: 3) { totalCount edges { node { title
  project { name client { name } } } } } }`;
const PROFILE = { 'x-postline-profile': '1' };

describe('extensions.profile', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('is returned to an ADMIN who sends the header', async () => {
    const res = await t.gql(FEED, {}, { as: ADMIN, headers: PROFILE });
    expect(res.errors).toBeUndefined();
    const profile = res.extensions?.profile;
    expect(profile).toMatchObject({
      operationName: 'ProfiledFeed',
      totalMs: expect.any(Number),
      statementCount: 2,
    });
    // the page with its posts, their projects and clients (one statement), and the count
    expect(profile.statements).toHaveLength(2);
    for (const s of profile.statements) {
      expect(s).toMatchObject({
        sql: expect.stringMatching(/^\s*SELECT/),
        durationMs: expect.any(Number),
        dbMs: expect.any(Number),
        loopWaitMs: expect.any(Number),
        rows: expect.any(Number),
      });
    }
    expect(profile.sqlDbMs).toEqual(expect.any(Number));
    expect(profile.statements.map((s: { sql: string }) => s.sql).join('\n')).toMatch(
      /FROM "posts" t[\s\S]*LEFT JOIN "projects" r1[\s\S]*count\(\*\)/,
    );
    const fields = new Set(profile.resolvers.map((r: { field: string }) => r.field));
    expect(fields).toEqual(
      new Set(['Query.posts', 'PostConnection.totalCount', 'Post.project', 'Project.client']),
    );
    const project = profile.resolvers.find(
      (r: { path: string }) => r.path === 'posts.edges.0.node.project',
    );
    expect(project).toMatchObject({ field: 'Post.project', durationMs: expect.any(Number) });
  });

  it('is not returned without the header, nor to anyone else who sends it', async () => {
    expect((await t.gql(FEED, {}, { as: ADMIN })).extensions?.profile).toBeUndefined();
    for (const as of [MANAGER, EDITOR, CLIENT1]) {
      const res = await t.gql(FEED, {}, { as, headers: PROFILE });
      expect(res.errors).toBeUndefined();
      expect(res.data?.posts.edges.length).toBeGreaterThan(0);
      expect(res.extensions?.profile).toBeUndefined();
    }
    const anonymous = await t.gql('{ __typename }', {}, { headers: PROFILE });
    expect(anonymous.extensions?.profile).toBeUndefined();
  });

  it('is returned to everyone in development', async () => {
    const dev = await createTestApp({ NODE_ENV: 'development' });
    try {
      const res = await dev.gql(FEED, {}, { as: CLIENT1 });
      expect(res.extensions?.profile?.operationName).toBe('ProfiledFeed');
    } finally {
      await dev.close();
    }
  });

  it('feeds resolver and SQL metrics on /metrics', async () => {
    await t.gql(FEED, {}, { as: EDITOR });
    const res = await t.app.yoga.fetch('http://postline.test/metrics');
    const text = await res.text();
    expect(text).toMatch(
      /postline_graphql_resolver_duration_seconds_count\{field="Post.project"\} [1-9]/,
    );
    expect(text).toMatch(
      /postline_sql_query_duration_seconds_count\{model="Post",action="page"\} [1-9]/,
    );
    expect(text).toMatch(
      /postline_sql_query_duration_seconds_count\{model="Post",action="count"\} [1-9]/,
    );
    expect(text).toMatch(
      /postline_graphql_operation_duration_seconds_count\{operation="ProfiledFeed"/,
    );
  });
});

describe('slow query log', () => {
  it('logs one line for a statement held up past SLOW_QUERY_MS, with redacted SQL', async () => {
    const { lines, logger } = captureLogs();
    const t = await createTestApp({ SLOW_QUERY_MS: '150', SLOW_OPERATION_MS: '250' }, { logger });
    const locker = new pg.Client({ connectionString: t.url });
    try {
      await t.tokenFor(ADMIN);
      lines.length = 0;
      // Another session holds the clients table: the list's first statement waits for it.
      await locker.connect();
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE clients IN ACCESS EXCLUSIVE MODE');
      const pending = t.gql(
        'query SlowClients($s: String!) { clients(first: 2, filter: { search: $s }) { edges { node { name } } } }',
        { s: 'needle-4711' },
        { as: ADMIN },
      );
      // Commit only once the list's statement is seen queued behind the lock, and then only
      // after longer than SLOW_QUERY_MS (a fixed sleep from the request's start raced it on a
      // busy machine: the statement might not have reached the lock yet).
      await eventually(
        async () => {
          const { rows } = await locker.query(
            `SELECT 1 FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
          );
          return rows.length > 0;
        },
        { what: 'the list statement waiting for the lock' },
      );
      await sleep(300);
      await locker.query('COMMIT');
      const res = await pending;
      expect(res.errors).toBeUndefined();

      const slow = lines.filter((l) => l.msg === 'slow query');
      expect(slow).toHaveLength(1);
      expect(slow[0]).toMatchObject({
        level: 40,
        event: 'slow_query',
        operation: 'SlowClients',
        thresholdMs: 150,
        model: 'Client',
        action: 'page',
        requestId: expect.any(String),
        sql: expect.stringContaining('FROM "clients" t WHERE t.name ILIKE $1'),
      });
      // the database held it: its database time is over the threshold, not just its wall time
      expect(slow[0]?.dbMs).toBeGreaterThan(150);
      expect(slow[0]?.durationMs).toBeGreaterThanOrEqual(slow[0]?.dbMs);
      expect(slow[0]?.loopWaitMs).toEqual(expect.any(Number));
      const ops = lines.filter((l) => l.msg === 'slow operation');
      expect(ops).toHaveLength(1);
      expect(ops[0]).toMatchObject({ operation: 'SlowClients', thresholdMs: 250, statements: 1 });
      // the search text travels as a parameter; nothing in the log carries it
      expect(JSON.stringify(lines)).not.toContain('needle');

      // fast requests log nothing
      lines.length = 0;
      await t.gql(
        'query Fast { clients(first: 1) { edges { node { name } } } }',
        {},
        { as: ADMIN },
      );
      expect(lines).toEqual([]);
    } finally {
      await locker.end().catch(() => {});
      await t.close();
    }
  });

  it('does not blame the database for a result that waited on a blocked event loop', async () => {
    const { lines, logger } = captureLogs();
    const t = await createTestApp(
      { SLOW_QUERY_MS: '150', SLOW_OPERATION_MS: '100000' },
      { logger },
    );
    // The process stays busy for BLOCK_MS right after the list's statement is sent (a
    // synchronous loop, as a CPU-heavy request would): the database answers at once, but the
    // result cannot be handled until the loop is free again.
    const BLOCK_MS = 400;
    const original = pg.Client.prototype.query;
    let armed = false;
    // biome-ignore lint/suspicious/noExplicitAny: pg's overloaded query signature
    (pg.Client.prototype as any).query = function (this: pg.Client, ...args: any[]) {
      // biome-ignore lint/suspicious/noExplicitAny: see above
      const result = (original as any).apply(this, args);
      const text = typeof args[0] === 'string' ? args[0] : args[0]?.text;
      if (armed && typeof text === 'string' && text.includes('FROM "clients"')) {
        armed = false;
        const until = performance.now() + BLOCK_MS;
        while (performance.now() < until) {
          // busy: the event loop cannot turn
        }
      }
      return result;
    };
    try {
      await t.tokenFor(ADMIN);
      lines.length = 0;
      armed = true;
      const res = await t.gql(
        'query BlockedLoop { clients(first: 2) { edges { node { name } } } }',
        {},
        { as: ADMIN, headers: PROFILE },
      );
      expect(res.errors).toBeUndefined();
      expect(armed).toBe(false);
      expect(lines.filter((l) => l.msg === 'slow query')).toEqual([]);

      // the profile shows both figures: the wall time with the wait in it, and the wait
      const [statement] = res.extensions?.profile.statements ?? [];
      expect(statement.sql).toContain('FROM "clients"');
      expect(statement.durationMs).toBeGreaterThanOrEqual(BLOCK_MS);
      expect(statement.loopWaitMs).toBeGreaterThan(statement.durationMs / 2);
      expect(statement.dbMs).toBeCloseTo(statement.durationMs - statement.loopWaitMs, 2);

      // and so does /metrics: one statement waited longer than 0.25 s for the loop
      const metrics = await (await t.app.yoga.fetch('http://postline.test/metrics')).text();
      const value = (series: string) =>
        Number(
          metrics
            .split('\n')
            .find((l) => l.startsWith(`${series} `))
            ?.split(' ')[1],
        );
      const waits = value('postline_sql_statement_loop_wait_seconds_count');
      expect(waits).toBeGreaterThan(0);
      expect(value('postline_sql_statement_loop_wait_seconds_bucket{le="0.25"}')).toBe(waits - 1);
      expect(metrics).toMatch(
        /^postline_sql_statement_db_duration_seconds_count\{verb="SELECT"\} [1-9]/m,
      );
      expect(metrics).toMatch(/^nodejs_eventloop_lag_p99_seconds /m);
    } finally {
      pg.Client.prototype.query = original;
      await t.close();
    }
  });

  it('redacts literals and classifies statements', () => {
    expect(
      redactSql(
        `SELECT count(*) FROM deliverables WHERE client_id = 42 AND status NOT IN ('APPROVED', 'it''s') AND x = $1`,
      ),
    ).toBe(
      `SELECT count(*) FROM deliverables WHERE client_id = ? AND status NOT IN ('?', '?') AND x = $1`,
    );
    expect(classifySql('SELECT "public"."users"."id" FROM "public"."users" WHERE 1=1')).toEqual({
      model: 'User',
      action: 'find',
    });
    expect(classifySql('INSERT INTO "public"."posts" ("title") VALUES ($1)')).toEqual({
      model: 'Post',
      action: 'create',
    });
  });
});

describe('OpenTelemetry export', () => {
  let server: Server;
  const received: { url: string; contentType: string; body: any }[] = [];
  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        received.push({
          url: req.url ?? '',
          contentType: String(req.headers['content-type']),
          body: raw.startsWith('{') ? JSON.parse(raw) : raw,
        });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('posts operation, resolver and SQL spans to OTEL_EXPORTER_OTLP_ENDPOINT', async () => {
    const port = (server.address() as AddressInfo).port;
    const t = await createTestApp({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` });
    try {
      const res = await t.gql(FEED, {}, { as: EDITOR });
      expect(res.errors).toBeUndefined();
      // no profile for an editor, spans regardless
      expect(res.extensions?.profile).toBeUndefined();
      await t.app.profiling.flush();
    } finally {
      await t.close();
    }
    const posts = received.filter((r) => r.url === '/v1/traces');
    expect(posts.length).toBeGreaterThan(0);
    expect(posts[0]?.contentType).toContain('application/json');
    const spans = posts.flatMap((p) =>
      p.body.resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans)),
    );
    const names = spans.map((s: { name: string }) => s.name);
    expect(names).toContain('graphql ProfiledFeed');
    expect(names).toContain('resolve Post.project');
    expect(names).toContain('sql Post.page');
    const root = spans.find((s: { name: string }) => s.name === 'graphql ProfiledFeed');
    const sql = spans.find((s: { name: string }) => s.name === 'sql Post.page');
    expect(sql.parentSpanId).toBe(root.spanId);
    expect(sql.traceId).toBe(root.traceId);
    const service = posts[0]?.body.resourceSpans[0].resource.attributes.find(
      (a: { key: string }) => a.key === 'service.name',
    );
    expect(service.value.stringValue).toBe('postline');
  });
});
