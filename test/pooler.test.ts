/**
 * The API through a real PgBouncer 1.18 in transaction mode (DB_PREPARED_STATEMENTS, detection).
 * Skips, naming the program, where `pgbouncer` is not installed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectTransactionPooler } from '../src/db/pooler.ts';
import { ADMIN, PASSWORD } from './fixtures.ts';
import { cloneTemplate, gid } from './harness.ts';
import { PGBOUNCER_MISSING, type PgBouncer, startPgBouncer } from './pgbouncer.ts';
import { type ServerProcess, startServerProcess } from './server-process.ts';
import { eventually } from './wait.ts';
import { runToExit, startWorkerProcess } from './worker-process.ts';

if (PGBOUNCER_MISSING) console.warn(PGBOUNCER_MISSING);

const FEED = `query($status: [PostStatus!]) {
  posts(first: 10, filter: { status: $status }) { edges { node { id title status } } }
}`;
const NODE = 'query($id: ID!) { node(id: $id) { id ... on Post { title } } }';
const UPDATE = `mutation($id: ID!, $title: String!) {
  updatePost(input: { id: $id, title: $title }) { post { id title } }
}`;
const LOGIN = `mutation($e: String!, $p: String!) { login(input: { email: $e, password: $p }) { token } }`;

describe.skipIf(Boolean(PGBOUNCER_MISSING))('through PgBouncer in transaction mode', () => {
  let url: string;
  let bouncer: PgBouncer;
  let session: PgBouncer;
  let pooled: string;
  let sql: (text: string, params?: unknown[]) => Promise<any[]>;

  beforeAll(async () => {
    url = await cloneTemplate('pooler');
    // Few server connections for many clients: consecutive transactions of one client
    // connection land on different server sessions all the time.
    [bouncer, session] = await Promise.all([
      // In front of the server this run's databases are on (embedded when no DATABASE_URL).
      startPgBouncer({ mode: 'transaction', poolSize: 3, serverUrl: url }),
      startPgBouncer({ mode: 'session', poolSize: 10, serverUrl: url }),
    ]);
    pooled = bouncer.urlFor(url);
    const pg = (await import('pg')).default;
    sql = async (text, params) => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        return (await c.query(text, params)).rows;
      } finally {
        await c.end();
      }
    };
  }, 60_000);
  afterAll(async () => {
    await Promise.all([bouncer?.stop(), session?.stop()]);
  });

  it('detects transaction pooling, and none directly or through session mode', async () => {
    expect((await detectTransactionPooler(pooled)).transactionPooled).toBe(true);
    expect((await detectTransactionPooler(url)).transactionPooled).toBe(false);
    expect((await detectTransactionPooler(session.urlFor(url))).transactionPooled).toBe(false);
    // Prisma's convention, without probing.
    const flagged = await detectTransactionPooler(`${url}?pgbouncer=true`);
    expect(flagged).toEqual({
      transactionPooled: true,
      reason: 'pgbouncer=true in the connection URL',
    });
  });

  /** Many feed pages, node lookups and edits at once; returns what each request answered. */
  async function mixedLoad(server: ServerProcess, tag: string) {
    const login = await server.gql(LOGIN, { e: ADMIN, p: PASSWORD });
    const token = login.body.data?.login?.token as string | undefined;
    const posts = await sql('SELECT id, title FROM posts ORDER BY id LIMIT 12');
    const feeds = Array.from({ length: 12 }, (_, i) =>
      server.gql(FEED, { status: i % 2 ? ['DRAFT'] : ['PUBLISHED', 'SCHEDULED'] }, token),
    );
    const nodes = posts.map((p) => server.gql(NODE, { id: gid('Post', p.id) }, token));
    const edits = posts
      .slice(0, 6)
      .map((p) => server.gql(UPDATE, { id: gid('Post', p.id), title: `${tag} ${p.id}` }, token));
    const [f, n, e] = await Promise.all([
      Promise.all(feeds),
      Promise.all(nodes),
      Promise.all(edits),
    ]);
    return { login, posts, feeds: f, nodes: n, edits: e };
  }

  it('with named statements on, requests fail through the pooler', async () => {
    const server = await startServerProcess({
      DATABASE_URL: pooled,
      DATABASE_SESSION_URL: url,
      DB_PREPARED_STATEMENTS: 'on',
      LOG_LEVEL: 'error',
    });
    const run = await mixedLoad(server, 'on');
    const all = [run.login, ...run.feeds, ...run.nodes, ...run.edits];
    const failed = all.filter((r) => r.body.errors?.length);
    expect(failed.length).toBeGreaterThan(0);
    // What the server logs (clients get the masked error):
    const logged = /prepared statement \\?"pl_[\w-]+\\?" (does not exist|already exists)/.exec(
      server.stdout() + server.stderr(),
    );
    expect(logged).not.toBeNull();
    console.info(
      `DB_PREPARED_STATEMENTS=on through PgBouncer (transaction mode): ${failed.length}/${all.length} requests failed; server log: ${logged?.[0]}; client saw: ${JSON.stringify(failed[0]?.body.errors?.[0]?.message)}`,
    );
    server.child.kill('SIGTERM');
    await server.exited;
  }, 180_000);

  for (const mode of ['off', 'auto'] as const) {
    it(`with DB_PREPARED_STATEMENTS=${mode}, the feed, node lookups and edits answer correctly`, async () => {
      const server = await startServerProcess({
        DATABASE_URL: pooled,
        DATABASE_SESSION_URL: url,
        DB_PREPARED_STATEMENTS: mode,
        DB_POOL_SIZE: '8',
      });
      for (let round = 0; round < 3; round++) {
        const tag = `${mode}-${round}`;
        const run = await mixedLoad(server, tag);
        expect(run.login.body.errors).toBeUndefined();
        for (const f of run.feeds) {
          expect(f.body.errors).toBeUndefined();
          expect(f.body.data.posts.edges).toHaveLength(10);
        }
        run.nodes.forEach((n, i) => {
          expect(n.body.errors).toBeUndefined();
          expect(n.body.data.node.id).toBe(gid('Post', run.posts[i].id));
        });
        for (const e of run.edits) expect(e.body.errors).toBeUndefined();
        const titles = await sql('SELECT id, title FROM posts ORDER BY id LIMIT 6');
        expect(titles.map((t) => t.title)).toEqual(titles.map((t) => `${tag} ${t.id}`));
        // The feed's first page matches the database's order.
        const expected = await sql(
          `SELECT id FROM posts WHERE status = 'DRAFT' ORDER BY created_at DESC, id DESC LIMIT 10`,
        );
        const drafts = run.feeds[1]?.body.data.posts.edges.map((e: any) => e.node.id);
        expect(drafts).toEqual(expected.map((r) => gid('Post', r.id)));
      }
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
    }, 180_000);
  }

  it('a worker pointed at the transaction pooler refuses to start, naming the setting', async () => {
    const [worker, api] = await Promise.all([
      runToExit('src/jobs/worker-main.ts', { DATABASE_URL: pooled }),
      runToExit('src/server.ts', { DATABASE_URL: pooled, PORT: '0', WORKER_MODE: 'inline' }),
    ]);
    console.info(
      `worker through the transaction pooler: exit ${worker.code}: ${worker.stderr.trim()}`,
    );
    expect(worker.code).toBe(78);
    expect(worker.stderr).toContain('DATABASE_URL: the job worker needs a database session');
    expect(worker.stderr).toContain('transaction-mode pooler');
    expect(worker.stderr).toContain('Set DATABASE_SESSION_URL');
    expect(worker.stdout).not.toContain('ready');
    // The API's migrations and inline runner need a session too.
    expect(api.code).toBe(78);
    expect(api.stderr).toContain('DATABASE_URL: the API (migrations, inline job runner) needs');

    const viaSession = await runToExit('src/jobs/worker-main.ts', {
      DATABASE_URL: pooled,
      DATABASE_SESSION_URL: pooled,
    });
    expect(viaSession.code).toBe(78);
    expect(viaSession.stderr).toContain('DATABASE_SESSION_URL: the job worker needs');
  }, 180_000);

  it('a worker through PgBouncer in session mode starts and runs jobs', async () => {
    const worker = await startWorkerProcess({
      DATABASE_URL: pooled,
      DATABASE_SESSION_URL: session.urlFor(url),
    });
    // An untracked task: graphile-worker deletes a job once it has succeeded.
    const [job] = await sql(`SELECT (graphile_worker.add_job('noop', '{}'::json)).id`);
    await eventually(
      async () =>
        (await sql('SELECT 1 FROM graphile_worker._private_jobs WHERE id = $1', [job.id]))
          .length === 0,
      { timeoutMs: 60_000, what: 'the noop job done' },
    );
    worker.kill('SIGTERM');
  }, 180_000);
});
