/**
 * Hostile requests (issue #12): each is refused with a typed error before any SQL, quickly,
 * while other requests keep being answered; the limits read variables, fragments, aliases and
 * `nodes(ids:)`; the defaults accept every operation Postline sends or documents; an operation
 * that runs too long is cancelled with its SQL; one request cannot take the whole pool.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appDocuments, worstCaseVariables } from '../bench/lib/app-documents.ts';
import { onStatement, type QueryLog } from '../src/db/query-log.ts';
import { schema } from '../src/schema/index.ts';
import { ADMIN, CLIENT1 } from './fixtures.ts';
import { createTestApp, type GqlResult, gid, type TestApp, useTestApp } from './harness.ts';
import { baselineMs, expectResponsive, expectWithin } from './latency.ts';
import { captureLogs } from './logs.ts';
import { eventually } from './wait.ts';

const t = await useTestApp();
/** Other configurations on the same database. */
const apps: TestApp[] = [];
async function appWith(env: Record<string, string>): Promise<TestApp> {
  const app = await createTestApp(env, { url: t.url });
  apps.push(app);
  return app;
}
afterAll(async () => {
  for (const app of apps) await app.close();
});

async function typename(app: TestApp): Promise<number> {
  const started = performance.now();
  const res = await app.app.yoga.fetch('http://postline.test/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ __typename }' }),
  });
  expect(await res.json()).toEqual({ data: { __typename: 'Query' } });
  return performance.now() - started;
}

/**
 * Sends `query` and, at the same time, `{ __typename }` from another client; returns the
 * response, how long it took, and how long `{ __typename }` waited meanwhile.
 */
async function sendWithBystander(
  app: TestApp,
  query: string,
  opts: { as?: string; variables?: Record<string, unknown> } = {},
) {
  // Signed by the default app: every app here shares its secret, and logins are slow.
  const token = opts.as ? await t.tokenFor(opts.as) : undefined;
  // How long `{ __typename }` takes right now with nothing hostile running: the bounds below
  // are the figures on a quiet machine and scale with it on a busy one.
  const baseline = await baselineMs(() => typename(app));
  // The refusal's cost is measured as this process's CPU time (the app runs in it), which a busy
  // machine does not inflate the way it inflates wall time; the bystander's wait is wall time.
  const cpuBefore = process.cpuUsage();
  const hostile = app.gql(query, opts.variables, { token });
  const [res, bystanderMs] = await Promise.all([hostile, typename(app)]);
  const cpu = process.cpuUsage(cpuBefore);
  return { res, cpuMs: (cpu.user + cpu.system) / 1000, bystanderMs, baseline };
}

function expectRefused(
  res: GqlResult,
  rule: string,
  limit: number,
  value?: number,
): Record<string, unknown> {
  expect(res.status).toBe(400);
  expect(res.data ?? null).toBeNull();
  expect(res.errors).toHaveLength(1);
  const ext = res.errors?.[0]?.extensions ?? {};
  expect(ext).toMatchObject({ code: 'QUERY_TOO_COMPLEX', rule, limit });
  if (value !== undefined) expect(ext.value).toBe(value);
  else expect(ext.value).toBeGreaterThan(limit);
  return ext;
}

const fragmentBomb = (n: number) => {
  let s = '{ ...F0 }';
  for (let i = 0; i < n; i++) s += `\nfragment F${i} on Query { ...F${i + 1} ...F${i + 1} }`;
  return `${s}\nfragment F${n} on Query { __typename }`;
};

const aliasFlood = (n: number) =>
  `{ ${Array.from({ length: n }, (_, i) => `a${i}: posts(first: 100) { totalCount edges { node { id title } } }`).join('\n')} }`;

const NESTED_100 = `{ clients(first: 100) { edges { node { name
  projects(first: 100) { edges { node { name
    posts(first: 100) { edges { node { id title } } } } } } } } } }`;

beforeAll(async () => {
  // Warm the pipeline (JIT, tokens) as on a running server, so timings measure the refusal.
  await t.tokenFor(ADMIN);
  await t.tokenFor(CLIENT1);
  for (let i = 0; i < 3; i++) {
    await typename(t);
    await t.gql('{ posts(first: 1) { edges { node { id } } } }', {}, { as: ADMIN });
    await t.gql(`{ ...A ...A } fragment A on Query { ...B } fragment B on Query { __typename }`);
    await t.gql(fragmentBomb(13 + i)); // refused: 2^13 and more
    await t.gql(`{ ${'__typename '.repeat(1001 + i)}}`);
  }
});

describe('hostile requests from issue #12 are refused before any SQL', () => {
  it('a 23-fragment bomb (each fragment spreads the next twice), anonymous', async () => {
    const query = fragmentBomb(22);
    expect(query.length).toBeLessThan(1000);
    const { res, cpuMs, bystanderMs, baseline } = await sendWithBystander(t, query);
    // 2^22 copies of `__typename`: each spread counts, without walking a fragment twice.
    const ext = expectRefused(res, 'cost', 5000, 2 ** 22);
    expect(ext).toBeDefined();
    expect(res.errors?.[0]?.message).toMatch(/would cost 4,194,304; the limit is 5,000/);
    expect(t.lastStatements()).toEqual([]);
    expect(cpuMs, 'CPU ms to refuse it').toBeLessThan(100);
    expectResponsive(bystanderMs, baseline);
  });

  it('2,000 aliases of a 100-post page with totalCount, as a CLIENT: refused while parsing', async () => {
    const { res, cpuMs, bystanderMs, baseline } = await sendWithBystander(t, aliasFlood(2000), {
      as: CLIENT1,
    });
    expectRefused(res, 'tokens', 1000, 1001);
    expect(res.errors?.[0]?.message).toMatch(/more than 1,000 tokens/);
    expect(t.lastStatements()).toEqual([]);
    expect(cpuMs, 'CPU ms to refuse it').toBeLessThan(100);
    expectResponsive(bystanderMs, baseline);
  });

  it('the same 2,000 aliases meet the alias limit, then the cost limit, when the earlier limits are raised', async () => {
    const noTokenLimit = await appWith({ MAX_QUERY_TOKENS: '1000000' });
    let sent = await sendWithBystander(noTokenLimit, aliasFlood(2000), { as: CLIENT1 });
    expectRefused(sent.res, 'aliases', 15, 2000);
    expect(noTokenLimit.lastStatements()).toEqual([]);
    expectResponsive(sent.bystanderMs, sent.baseline);

    const onlyCost = await appWith({ MAX_QUERY_TOKENS: '1000000', MAX_QUERY_ALIASES: '100000' });
    sent = await sendWithBystander(onlyCost, aliasFlood(2000), { as: CLIENT1 });
    // Per alias: posts 1 + totalCount 20 + edges 1 + 100 × (node, id, title) = 322.
    expectRefused(sent.res, 'cost', 5000, 2000 * 322);
    expect(sent.res.errors?.[0]?.message).toMatch(/a\d+: posts\(first: 100\) multiplies/);
    expect(onlyCost.lastStatements()).toEqual([]);
    expectResponsive(sent.bystanderMs, sent.baseline);
  });

  it('clients(first: 100) › projects(first: 100) › posts(first: 100), as staff', async () => {
    const { res, cpuMs, bystanderMs, baseline } = await sendWithBystander(t, NESTED_100, {
      as: ADMIN,
    });
    const ext = expectRefused(res, 'cost', 5000);
    expect(ext.value).toBeGreaterThan(1_000_000);
    expect(res.errors?.[0]?.message).toContain(
      'clients(first: 100) › projects(first: 100) › posts(first: 100) multiplies what it selects by 1,000,000',
    );
    expect(t.lastStatements()).toEqual([]);
    expect(cpuMs, 'CPU ms to refuse it').toBeLessThan(100);
    expectResponsive(bystanderMs, baseline);
  });
});

describe('what the limits count', () => {
  let small: TestApp;
  let adminToken: string;
  beforeAll(async () => {
    small = await appWith({ MAX_QUERY_COST: '500' });
    adminToken = await t.tokenFor(ADMIN);
  });

  it('multiplies by `first` from variables, through nested connections, per request', async () => {
    const tree = `query Tree($n: Int) { clients(first: $n) { edges { node {
      projects(first: $n) { edges { node { posts(first: $n) { edges { node { id } } } } } } } } } }`;
    // posts 2 + n·2; projects 2 + n·(1 + posts); clients 2 + n·(1 + projects)
    const cost = (n: number) => 2 + n * (1 + 2 + n * (1 + 2 + n * 2));
    expect(cost(5)).toBeLessThan(5000);
    expect(cost(20)).toBeGreaterThan(5000);
    const ok = await t.gql(tree, { n: 5 }, { as: ADMIN });
    expect(ok.errors).toBeUndefined();
    expect(ok.data?.clients.edges.length).toBeGreaterThan(0);
    // Same document, bigger page: refused (the cost is not cached per document alone).
    expectRefused(await t.gql(tree, { n: 20 }, { as: ADMIN }), 'cost', 5000, cost(20));
    expect(t.lastStatements()).toEqual([]);
    // No `first`: the default page of 20.
    expectRefused(await t.gql(tree, {}, { as: ADMIN }), 'cost', 5000, cost(20));
    const again = await t.gql(tree, { n: 5 }, { as: ADMIN });
    expect(again.errors).toBeUndefined();
    // A variable's default value is used when the request leaves it out.
    const withDefault = tree.replace('($n: Int)', '($n: Int = 3)');
    expect((await t.gql(withDefault, {}, { as: ADMIN })).errors).toBeUndefined();
  });

  it('counts through fragments on connections, and a fragment spread twice counts twice', async () => {
    const page = `query Page($n: Int!) { posts(first: $n) { ...Page } }
      fragment Page on PostConnection { totalCount edges { node { ...P } } }
      fragment P on Post { id title project { name } }`;
    // posts 1 + totalCount 20 + edges 1 + n × (node, id, title, project, name)
    expect((await small.gql(page, { n: 95 }, { token: adminToken })).errors).toBeUndefined();
    expectRefused(
      await small.gql(page, { n: 100 }, { token: adminToken }),
      'cost',
      500,
      22 + 5 * 100,
    );
    expect(small.lastStatements()).toEqual([]);

    const once = `{ ...Q } fragment Q on Query { posts(first: 100) { edges { node { id title } } } }`;
    expect((await small.gql(once, {}, { token: adminToken })).errors).toBeUndefined();
    const twice = once.replace('{ ...Q }', '{ ...Q ...Q }');
    expectRefused(await small.gql(twice, {}, { token: adminToken }), 'cost', 500, 2 * 302);
  });

  it('counts `last` and `offset` (the rows skipped are read too)', async () => {
    const q = `query($o: Int) { posts(last: 50, offset: $o) { edges { node { id } } } }`;
    expect((await small.gql(q, { o: 0 }, { token: adminToken })).errors).toBeUndefined();
    // posts 1 + edges 1 + offset 400 + 50 × (node, id)
    expectRefused(await small.gql(q, { o: 400 }, { token: adminToken }), 'cost', 500, 502);
  });

  it('multiplies `nodes(ids:)` by the number of IDs, from a variable or a literal', async () => {
    const q = `query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Post {
      title status platform project { name client { name } } } } }`;
    const ids = (n: number) => Array.from({ length: n }, (_, i) => gid('Post', i + 1));
    // nodes 1 + n × (id, title, status, platform, project, name, client, name)
    const ok = await small.gql(q, { ids: ids(50) }, { token: adminToken });
    expect(ok.errors).toBeUndefined();
    expectRefused(await small.gql(q, { ids: ids(100) }, { token: adminToken }), 'cost', 500, 801);
    expect(small.lastStatements()).toEqual([]);
    const literal = q.replace('query($ids: [ID!]!)', '').replace('$ids', JSON.stringify(ids(100)));
    expectRefused(await small.gql(literal, {}, { token: adminToken }), 'cost', 500, 801);
  });

  it('the README example costs what the README says', async () => {
    const example = `{ posts(first: 50) { totalCount edges { node { id title project { name } } } } }`;
    const tiny = await appWith({ MAX_QUERY_COST: '100' });
    const ext = expectRefused(await tiny.gql(example, {}, { token: adminToken }), 'cost', 100, 272);
    expect(ext.value).toBe(272);
  });

  it('limits aliases', async () => {
    const aliases = (n: number) =>
      `{ ${Array.from({ length: n }, (_, i) => `v${i}: viewer { id }`).join(' ')} }`;
    expect((await t.gql(aliases(15), {}, { as: ADMIN })).errors).toBeUndefined();
    const res = await t.gql(aliases(16), {}, { as: ADMIN });
    expectRefused(res, 'aliases', 15, 16);
    expect(res.errors?.[0]?.message).toMatch(/uses 16 aliases; the limit is 15/);
    expect(t.lastStatements()).toEqual([]);
  });

  it('limits directives', async () => {
    const directives = (n: number) =>
      `{ ${Array.from({ length: n }, () => '__typename @include(if: true)').join(' ')} }`;
    expect((await t.gql(directives(50))).errors).toBeUndefined();
    expectRefused(await t.gql(directives(51)), 'directives', 50, 51);
  });

  it('limits depth at 12, counting fields inside fragments', async () => {
    const deep = `fragment Deeper on Post { project { client { projects(first: 1) { edges { node { name } } } } } }
      { clients(first: 1) { edges { node { projects(first: 1) { edges { node {
        posts(first: 1) { edges { node { ...Deeper } } } } } } } } } }`;
    const res = await t.gql(deep, {}, { as: ADMIN });
    expectRefused(res, 'depth', 12, 15);
    expect(t.lastStatements()).toEqual([]);
  });

  it('limits tokens while parsing: a document near the body limit costs bounded work', async () => {
    expectRefused(await t.gql(`{ ${'__typename '.repeat(1001)}}`), 'tokens', 1000, 1001);
    // 90,000 fields, just under MAX_REQUEST_BODY_BYTES (1 MiB). Unlimited, graphql-js parses
    // and validates them all: seconds. Reading the body itself takes tens of milliseconds here,
    // hence the wider bound.
    const huge = `{ ${'__typename '.repeat(90_000)}}`;
    expect(huge.length).toBeGreaterThan(900_000);
    const baseline = await baselineMs(() => typename(t));
    const started = performance.now();
    expectRefused(await t.gql(huge), 'tokens', 1000, 1001);
    expectWithin(performance.now() - started, 1000, baseline);
  });
});

/** The errors of an operation sent without a token (a subscription over server-sent events). */
async function sendAnonymously(
  query: string,
  variables: Record<string, unknown>,
): Promise<NonNullable<GqlResult['errors']>> {
  if (!/^\s*subscription\b/.test(query)) return (await t.gql(query, variables)).errors ?? [];
  const res = await t.app.yoga.fetch('http://postline.test/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ query, variables }),
  });
  // The stream ends after the error event an anonymous caller gets.
  const text = await within(5000, res.text(), 'the subscription stream');
  return [...text.matchAll(/^data: (.*)$/gm)].flatMap(
    (m) =>
      (JSON.parse(m[1] as string) as { errors?: NonNullable<GqlResult['errors']> }).errors ?? [],
  );
}

describe('the defaults accept every operation Postline sends or documents', () => {
  const docs = appDocuments();

  it('finds the benchmark, profile, README and introspection operations', () => {
    const sources = docs.map((d) => d.source).join('\n');
    expect(sources).toContain('bench/lib/queries.ts FEED');
    expect(sources).toContain('bench/profile.ts');
    expect(sources).toContain('README.md');
    expect(sources).toContain('introspection');
    expect(docs.length).toBeGreaterThan(25);
  });

  it.each(docs.map((d) => [d.source, d.query] as const))('%s', async (_source, query) => {
    // Anonymous: every limit is checked before any resolver runs, and no mutation can write.
    const errors = await sendAnonymously(query, worstCaseVariables(query, schema));
    const refusals = errors.filter((e) => e.extensions?.code === 'QUERY_TOO_COMPLEX');
    expect(refusals).toEqual([]);
  });

  it('the heaviest benchmark query (ClientTree) runs for staff', async () => {
    const tree = docs.find((d) => d.query.includes('ClientTree'));
    expect(tree).toBeDefined();
    const res = await t.gql(tree?.query ?? '', {}, { as: ADMIN });
    expect(res.errors).toBeUndefined();
    expect(res.data?.clients.edges.length).toBeGreaterThan(0);
  });
});

/** A separate session holding a lock, so the app's statements on that table wait. */
async function lockTable(
  url: string,
  table: string,
): Promise<{ pid: number; release(): Promise<void> }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('BEGIN');
  await client.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  const pid = (await client.query('select pg_backend_pid() as pid')).rows[0].pid as number;
  let released = false;
  return {
    pid,
    async release() {
      if (released) return;
      released = true;
      await client.query('ROLLBACK');
      await client.end();
    },
  };
}

/** Backends of the test database waiting for a lock, other than `except`. */
async function waitingOnLock(app: TestApp, except: number): Promise<number> {
  const rows = await app.sql<{ n: number }>(
    `select count(*)::int as n from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock' and pid <> $1`,
    [except],
  );
  return rows[0]?.n ?? 0;
}

const inUse = (app: TestApp) => app.pool.totalCount - app.pool.idleCount;

/** Fails instead of hanging when the server never answers (as on a server without bounds). */
function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms),
    ),
  ]);
}

describe('operation timeout (OPERATION_TIMEOUT_MS)', () => {
  let slow: TestApp;
  let adminToken: string;
  beforeAll(async () => {
    slow = await appWith({ OPERATION_TIMEOUT_MS: '500', DB_POOL_MAX_PER_REQUEST: '1' });
    // Signed in through the default app: a login under a 500 ms limit could itself time out.
    adminToken = await t.tokenFor(ADMIN);
  });

  it('cancels the statement stuck behind a lock, refuses the SQL still to come, frees the connections', async () => {
    const lock = await lockTable(slow.url, 'clients');
    try {
      // With one connection per request, `b` waits for `a`'s: once the time is up, `b` must not
      // take it and run (it would wait on the lock again, holding a connection).
      const baseline = await baselineMs(() => typename(slow));
      const started = performance.now();
      const res = await within(
        5000,
        slow.gql(
          `{ a: clients(first: 2) { edges { node { name } } }
             b: clients(first: 3) { edges { node { name } } } }`,
          {},
          { token: adminToken },
        ),
        'a query blocked by a lock',
      );
      const ms = performance.now() - started;
      expect(res.data ?? null).toBeNull();
      expect(res.errors?.[0]?.extensions).toEqual({ code: 'OPERATION_TIMEOUT', limit: 500 });
      expect(res.errors?.[0]?.message).toMatch(/did not finish within 500 ms and was cancelled/);
      expect(ms).toBeGreaterThanOrEqual(490);
      expectWithin(ms, 3000, baseline);
      // No statement of the request waits in PostgreSQL any more; the pool has its connections.
      await eventually(async () => (await waitingOnLock(slow, lock.pid)) === 0, {
        timeoutMs: 3000,
        what: 'no statement of the timed-out request waiting on the lock',
      });
      await eventually(() => inUse(slow) === 0, { timeoutMs: 3000, what: 'connections released' });
      // One statement ran (and was cancelled); the other was refused before reaching PostgreSQL.
      expect(slow.lastStatements()).toHaveLength(1);
    } finally {
      await lock.release();
    }
    const after = await slow.gql(
      '{ clients(first: 2) { edges { node { name } } } }',
      {},
      {
        token: adminToken,
      },
    );
    expect(after.errors).toBeUndefined();
  });

  it("logs the timeout once, with the request's id, which the response carries too", async () => {
    const { lines, logger } = captureLogs();
    const logged = await createTestApp({ OPERATION_TIMEOUT_MS: '300' }, { url: t.url, logger });
    apps.push(logged);
    const lock = await lockTable(logged.url, 'clients');
    let res: Response;
    try {
      res = await within(
        5000,
        Promise.resolve(
          logged.app.yoga.fetch('http://postline.test/graphql', {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              authorization: `Bearer ${adminToken}`,
              'x-request-id': 'timeout-log-check-1',
            },
            body: JSON.stringify({ query: '{ clients(first: 2) { edges { node { name } } } }' }),
          }),
        ),
        'a query blocked by a lock',
      );
    } finally {
      await lock.release();
    }
    const body = (await res.json()) as GqlResult;
    expect(body.errors?.[0]?.extensions?.code).toBe('OPERATION_TIMEOUT');
    expect(res.headers.get('x-request-id')).toBe('timeout-log-check-1');
    const warned = lines.filter((l) => l.msg === 'operation timed out; its SQL was cancelled');
    expect(warned).toEqual([
      expect.objectContaining({ requestId: 'timeout-log-check-1', timeoutMs: 300, level: 40 }),
    ]);
    // A request that logs nothing writes no line.
    lines.length = 0;
    const ok = await logged.gql('{ __typename }', {});
    expect(ok.errors).toBeUndefined();
    expect(lines).toEqual([]);
  });

  it('a timed-out mutation is rolled back, and nothing after it runs', async () => {
    const [project] = await slow.sql<{ id: number; name: string }>(
      'select id, name from projects order by id limit 1',
    );
    const [post] = await slow.sql<{ id: number; title: string }>(
      'select id, title from posts order by id limit 1',
    );
    if (!project || !post) throw new Error('fixtures missing');
    const lock = await lockTable(slow.url, 'projects');
    let res: GqlResult;
    try {
      // Mutation fields run one after the other: `b` starts only after `a` was cancelled.
      res = await within(
        5000,
        slow.gql(
          `mutation($p: ID!, $post: ID!) {
            a: updateProject(input: { id: $p, name: "renamed by a timed-out request" }) { project { id } }
            b: updatePost(input: { id: $post, title: "written after the timeout" }) { post { id } }
          }`,
          { p: gid('Project', project.id), post: gid('Post', post.id) },
          { token: adminToken },
        ),
        'a mutation blocked by a lock',
      );
    } finally {
      await lock.release();
    }
    expect(res.errors?.map((e) => e.extensions?.code)).toEqual(['OPERATION_TIMEOUT']);
    await eventually(() => inUse(slow) === 0, { timeoutMs: 3000, what: 'connections released' });
    const [projectAfter] = await slow.sql('select name from projects where id = $1', [project.id]);
    const [postAfter] = await slow.sql('select title from posts where id = $1', [post.id]);
    expect(projectAfter?.name).toBe(project.name);
    expect(postAfter?.title).toBe(post.title);
  });
});

describe('per-request pool share (DB_POOL_MAX_PER_REQUEST)', () => {
  it('a request with many parallel lists holds at most its share; another request still gets a connection', async () => {
    const shared = await appWith({
      DB_POOL_SIZE: '2',
      DB_POOL_MAX_OVERFLOW: '2',
      DB_POOL_MAX_PER_REQUEST: '2',
      DB_POOL_ACQUIRE_TIMEOUT_MS: '4000',
    });
    const adminToken = await t.tokenFor(ADMIN);
    const logs = new Set<QueryLog>();
    const stop = onStatement((_record, log) => {
      if (log) logs.add(log);
    });
    const lock = await lockTable(shared.url, 'posts');
    let greedy: Promise<GqlResult>;
    try {
      // Eight lists at once, each stuck behind the lock: without a share they take the whole
      // pool (4) and queue four more checkouts ahead of everyone else.
      const lists = Array.from(
        { length: 8 },
        (_, i) => `p${i}: posts(first: 1, offset: ${i}) { edges { node { id } } }`,
      );
      greedy = shared.gql(`{ ${lists.join('\n')} }`, {}, { token: adminToken });
      await eventually(async () => (await waitingOnLock(shared, lock.pid)) >= 2, {
        timeoutMs: 5000,
        what: 'the greedy request holding its two connections',
      });
      const baseline = await baselineMs(() => typename(shared));
      const started = performance.now();
      const other = await shared.gql(
        '{ clients(first: 1) { edges { node { name } } } }',
        {},
        {
          token: adminToken,
        },
      );
      expect(other.errors).toBeUndefined();
      expectWithin(performance.now() - started, 2000, baseline);
      expect(await waitingOnLock(shared, lock.pid)).toBe(2);
    } finally {
      await lock.release();
    }
    const res = await greedy;
    stop();
    expect(res.errors).toBeUndefined();
    expect(Object.keys(res.data ?? {})).toHaveLength(8);
    const greedyLog = [...logs].find((l) => l.count >= 8);
    expect(greedyLog?.connections?.peak).toBe(2);
  });
});
