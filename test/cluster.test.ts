/**
 * The scale-out topology with real programs (bench/lib/cluster.ts): 2 API instances through
 * PgBouncer (transaction mode) behind HAProxy, 2 workers straight to PostgreSQL, one Redis.
 * Under mixed load through HAProxy at 32 connections:
 * (a) an instance SIGKILLed and restarted fails only the requests it had in flight,
 * (b) a rolling SIGTERM restart of every instance fails none,
 * (c) a worker SIGKILLed in the middle of `generatePosts` leaves the job done exactly once.
 * Also: a write through one instance is read through the other at once (shared Redis cache).
 *
 * Skipped, with a message naming it, when `pgbouncer` or `haproxy` is not installed
 * (`apt-get install -y pgbouncer haproxy`) or no Redis answers.
 */
import { request } from 'node:http';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Cluster,
  missingPrograms,
  type RequestLogEntry,
  startCluster,
} from '../bench/lib/cluster.ts';
import { login, mixedFixture } from '../bench/lib/fixtures.ts';
import { LoadGenerator } from '../bench/lib/load-client.ts';
import { NODE, UPDATE_POST } from '../bench/lib/queries.ts';
import type { Failure, LoadResult, MixedFixture } from '../bench/lib/types.ts';
import { ADMIN, CLIENT1 } from './fixtures.ts';
import { cloneTemplate, gid, rawId } from './harness.ts';
import { redisAnswers, redisUrl } from './http.ts';
import { eventually } from './wait.ts';

/** Seconds of load at least; the load goes on until the scenario under it is over. */
const LOAD_S = Number(process.env.CLUSTER_LOAD_S || 60);
const CONNECTIONS = 32;
const GENERATED = 10_000;

const redisUp = await redisAnswers('the scale-out cluster tests');
const missing = missingPrograms();
const skip = missing.length
  ? `${missing.join(' and ')} not installed (apt-get install -y ${missing.join(' ')})`
  : !redisUp
    ? `no Redis answers at ${redisUrl}`
    : null;
if (skip) process.stdout.write(`Skipping the cluster tests: ${skip}\n`);

/**
 * One GraphQL request on a connection of its own (no keep-alive): an idle pooled connection
 * that HAProxy closed meanwhile would fail the request for reasons that are the client's.
 */
function gql<T = Record<string, any>>(
  baseUrl: string,
  query: string,
  variables: Record<string, unknown>,
  token?: string,
): Promise<{ status: number; data?: T; errors?: { message: string }[] }> {
  const body = JSON.stringify({ query, variables });
  return new Promise((resolve, reject) => {
    const req = request(
      `${baseUrl}/graphql`,
      {
        method: 'POST',
        agent: false,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          connection: 'close',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, ...(JSON.parse(text) as object) });
          } catch {
            reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
          }
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe.skipIf(skip !== null)(
  'scale-out: PgBouncer, HAProxy, 2 API instances, 2 workers, Redis',
  () => {
    let cluster: Cluster;
    let db: pg.Pool;
    let fixture: MixedFixture;
    let restore: () => Promise<void>;
    const summary: string[] = [];

    beforeAll(async () => {
      const url = await cloneTemplate('cluster');
      db = new pg.Pool({ connectionString: url, max: 3 });
      cluster = await startCluster({
        databaseUrl: url,
        redisUrl,
        instances: 2,
        workers: 2,
        requestLog: true,
        workerEnv: {
          WORKER_HEARTBEAT_MS: '250',
          WORKER_STALE_MS: '1500',
          WORKER_POLL_INTERVAL_MS: '200',
          JOB_BACKOFF_BASE_MS: '50',
          ANALYTICS_DEBOUNCE_MS: '60000',
        },
        log: (line) => {
          if (process.env.TEST_LOG_LEVEL) process.stdout.write(`${line}\n`);
        },
      });
      const setup = await mixedFixture(db, cluster.lbUrl, {
        clientUsers: 8,
        hotPostsPerClient: 12,
        cursors: [],
      });
      fixture = setup.fixture;
      restore = setup.restore;
    }, 300_000);

    afterAll(async () => {
      await cluster?.stop();
      await restore?.();
      await db?.end();
      if (summary.length) process.stdout.write(`\n${summary.join('\n')}\n\n`);
    }, 120_000);

    it('a write through one instance is read through the other at once (no stale reads)', async () => {
      const [api1, api2] = cluster.apis as [Cluster['apis'][0], Cluster['apis'][0]];
      const staff = (await login(cluster.lbUrl, ADMIN)).token;
      const client = (await login(cluster.lbUrl, CLIENT1)).token;
      const { rows } = await db.query<{ id: number }>(
        `SELECT p.id FROM posts p JOIN users u ON u.client_id = p.client_id
        WHERE u.email = $1 ORDER BY p.id DESC LIMIT 10`,
        [CLIENT1],
      );
      expect(rows.length).toBe(10);
      let stale = 0;
      for (const [i, row] of rows.entries()) {
        const id = gid('Post', row.id);
        // Alternate the direction: write on one, read (cached before the write) on the other.
        const [writer, reader] = i % 2 ? [api2, api1] : [api1, api2];
        for (let k = 0; k < 2; k++) {
          const before = await gql(reader.baseUrl, NODE, { id }, client);
          expect(before.errors).toBeUndefined();
        }
        const title = `Written through ${writer.name} #${i}`;
        const write = await gql(writer.baseUrl, UPDATE_POST, { id, title }, staff);
        expect(write.errors).toBeUndefined();
        const after = await gql<{ node: { title: string } }>(reader.baseUrl, NODE, { id }, client);
        if (after.data?.node.title !== title) stale++;
      }
      summary.push(
        `stale reads (write through one instance, read at once through the other): ${stale}/${rows.length}`,
      );
      expect(stale).toBe(0);
    });

    it(
      `(a) + (c) under ${LOAD_S} s of mixed load at ${CONNECTIONS} connections: an API instance and a worker SIGKILLed`,
      async () => {
        const admin = (await login(cluster.lbUrl, ADMIN)).token;
        const run = await underLoad(LOAD_S, async (t) => {
          // (c) generatePosts through HAProxy; kill the worker running it once some batches are in.
          const c = await killWorkerMidJob(cluster, db, admin);
          // (a) SIGKILL api1, start it again, wait until HAProxy routes to it.
          const aStart = Date.now();
          const before = (await cluster.servers()).api1;
          const kill = await cluster.killApi('api1');
          await cluster.startApi('api1');
          const aEnd = Date.now();
          // (c) finishes on the other (or the restarted) worker.
          const after = (await cluster.servers()).api1;
          const job = await c.finished;
          return { c, job, aStart, aEnd, kill, before, after, t };
        });
        const { c, job, aStart, aEnd, kill, before, after, t } = run.value;
        const { result, failures } = run;
        expect(aEnd).toBeLessThan(run.end); // all of (a) under load

        const logged = cluster.requests;
        // In flight on api1 when it died: what HAProxy had in progress there at the kill
        // (`killApi` freezes the instance first, so that count holds still until the kill).
        const inFlight = kill.inFlight;
        // HAProxy's own tally for api1 across the kill: requests whose response the server cut
        // off. Its log shows some as `502 SH--`; a request cut off on a kept-alive client
        // connection is answered by closing that connection, as the server did, unlogged.
        const aborted = (after?.serverAborts ?? 0) - (before?.serverAborts ?? 0);
        const refused = (after?.connectionErrors ?? 0) - (before?.connectionErrors ?? 0);
        const failedA = failures.filter((f) => f.at >= aStart && f.at <= aEnd);
        const lbFailed = failedAtLb(logged, run.start, run.end + 5000);
        const states = (rows: RequestLogEntry[]) =>
          [...new Set(rows.map((r) => `${r.server} ${r.status} ${r.termination}`))].join(', ') ||
          'none';
        const kinds = [...new Set(failedA.map((f) => f.what))].join('; ') || 'none';
        // When each failure was seen, from the kill: cut-off requests fail within milliseconds.
        const failedAt = countBy(failedA.map((f) => `${f.what} ${ms(f.at - kill.killedAt)}`));
        summary.push(
          `${describeRun(result, failures)}`,
          `(a) SIGKILL api1 at ${t(kill.killedAt)}, back in rotation at ${t(aEnd)}: ${requestsIn(logged, aStart, aEnd)} requests meanwhile, ${failedA.length} failed (${kinds}; seen at ${failedAt}), ${inFlight} in flight on api1 at the kill, ${kill.sentWhileDying} sent to it while it died; HAProxy for api1: ${aborted} cut off by the server, ${refused} connections refused (redispatched: ${(after?.redispatches ?? 0) - (before?.redispatches ?? 0)}), errors in its log: ${lbFailed.length} (${states(lbFailed)})`,
          `(c) SIGKILL ${c.worker} mid-generatePosts at ${t(c.killedAt)} (${c.partial}/${GENERATED} posts written): job ${job.status} on attempt ${job.attempts}, posts ${job.posts} (${job.keys} distinct keys), copies left in the queue ${job.queued}`,
        );

        // (a): only requests in flight on the killed instance failed, nothing else in the run:
        // every failure was seen as the kill cut it off, none while api1 restarted or rejoined.
        for (const f of failedA) {
          expect(f.at).toBeGreaterThanOrEqual(kill.killedAt);
          expect(f.at).toBeLessThanOrEqual(kill.exit.at + CUT_OFF_SEEN_MS);
        }
        // No more than HAProxy sent there: those in progress at the kill, and those it sent
        // while the process was being torn down (its slots freed as the killed connections
        // closed, so queued requests went to it, and were cut off too).
        expect(failedA.length).toBeLessThanOrEqual(inFlight + kill.sentWhileDying);
        expect(failures.length).toBe(failedA.length);
        // Every error HAProxy answered was a request cut off on api1: none it could not
        // connect (`SC`, a 503) — a refused connection is sent to api2.
        for (const r of lbFailed) {
          expect(`${r.server} ${r.termination}`).toMatch(/^api1 S[HD]/);
          expect(r.start).toBeLessThanOrEqual(kill.exit.at);
        }
        for (const f of failedA) expect(f.what).not.toMatch(/503/);
        expect(result.staleReads).toBe(0);
        // (c): done once: every post exactly once, the job succeeded on its second attempt.
        expect(job).toMatchObject({
          status: 'SUCCEEDED',
          attempts: 2,
          posts: GENERATED,
          keys: GENERATED,
          queued: 0,
        });
      },
      (LOAD_S + 240) * 1000,
    );

    it(
      `(b) under ${LOAD_S} s of mixed load at ${CONNECTIONS} connections: every API instance restarted in turn with SIGTERM, 0 failed requests`,
      async () => {
        const run = await underLoad(LOAD_S, async (t) => {
          const bStart = Date.now();
          const steps: string[] = [];
          for (const api of cluster.apis) {
            // SIGTERM: /ready 503 (HAProxy takes it out), in-flight requests finish, exit 0.
            const exit = await cluster.stopApi(api.name);
            await cluster.startApi(api.name);
            steps.push(`${api.name} exit ${exit.code} at ${t(exit.at)}, back at ${t(Date.now())}`);
          }
          return { bStart, bEnd: Date.now(), steps, t };
        });
        const { bStart, bEnd, steps, t } = run.value;
        const { result, failures } = run;
        expect(bEnd).toBeLessThan(run.end); // all of (b) under load
        const lbFailed = failedAtLb(cluster.requests, run.start, run.end + 5000);
        summary.push(
          describeRun(result, failures),
          `(b) SIGTERM rolling restart ${t(bStart)} to ${t(bEnd)} (${steps.join('; ')}): ${requestsIn(cluster.requests, bStart, bEnd)} requests meanwhile, ${failures.length} failed, ${lbFailed.length} failed at HAProxy`,
        );
        expect(failures).toEqual([]);
        expect(lbFailed).toEqual([]);
        expect(result.staleReads).toBe(0);
      },
      (LOAD_S + 240) * 1000,
    );

    /** Runs `fn` while the mixed load runs through HAProxy for `durationS`; waits for both. */
    async function underLoad<T>(durationS: number, fn: (t: (ms: number) => string) => Promise<T>) {
      const load = new LoadGenerator();
      let start = 0;
      let end = 0;
      let began: () => void = () => {};
      const warm = new Promise<void>((r) => {
        began = r;
      });
      const running = load.run(
        {
          target: cluster.lbUrl,
          connections: CONNECTIONS,
          warmupS: 0,
          durationS,
          // Load until `fn` is over too (restarts take longer on a busy machine).
          untilFinished: true,
          workload: { kind: 'mixed', mixed: fixture },
        },
        {
          onWarm: () => {
            start = Date.now();
            began();
          },
          onEnd: () => {
            end = Date.now();
          },
        },
      );
      running.catch(() => {}); // awaited below
      try {
        await warm;
        const t = (ms: number) => `+${((ms - start) / 1000).toFixed(1)} s`;
        const value = await fn(t);
        load.finish();
        const result = await running;
        return { value, result, failures: result.failures ?? [], start, end };
      } finally {
        await load.stop();
      }
    }
  },
);

function describeRun(result: LoadResult, failures: Failure[]): string {
  const kinds = [...new Set(failures.map((f) => f.what))].slice(0, 3).join('; ');
  return `mixed load through HAProxy, ${CONNECTIONS} connections, ${result.durationS.toFixed(0)} s: ${result.requests} requests, ${failures.length} failed${kinds ? ` (${kinds})` : ''}, stale reads ${result.staleReads}/${result.checks}`;
}

/** The longest a client may take to see a request cut off by a kill (a busy machine). */
const CUT_OFF_SEEN_MS = 2000;

/** "a ×3, b" for a list with repeats, in first-seen order. */
function countBy(items: string[]): string {
  const counts = new Map<string, number>();
  for (const x of items) counts.set(x, (counts.get(x) ?? 0) + 1);
  return [...counts].map(([x, n]) => (n > 1 ? `${x} ×${n}` : x)).join(', ') || 'none';
}

/** A delay to the nearest 100 ms, signed: `+0.0 s`, `+3.4 s`. */
const ms = (d: number) => `${d < 0 ? '-' : '+'}${(Math.abs(d) / 1000).toFixed(1)} s`;

const requestsIn = (logged: RequestLogEntry[], from: number, to: number) =>
  logged.filter((r) => r.end >= from && r.end <= to).length;

/** Requests HAProxy answered with an error or cut short, ending between `from` and `to`. */
const failedAtLb = (logged: RequestLogEntry[], from: number, to: number) =>
  logged.filter(
    (r) =>
      r.end >= from &&
      r.end <= to &&
      (r.status < 200 || r.status >= 500 || !r.termination.startsWith('--')),
  );

interface JobOutcome {
  status: string;
  attempts: number;
  posts: number;
  keys: number;
  /** Copies of the job still in graphile-worker's queue. */
  queued: number;
}

/**
 * Enqueues generatePosts (through HAProxy), SIGKILLs the worker that runs it once some of its
 * batches are committed and before the last, restarts that worker; `finished` resolves when
 * the job is done. Tries again (a new job) in the rare case a job finished before the kill.
 */
async function killWorkerMidJob(cluster: Cluster, db: pg.Pool, token: string) {
  // A project of its own: 10,000 new posts in one of the load's projects would push a post
  // the load has just created off the first page its read-after-write check reads.
  const { rows: clients } = await db.query<{ id: number }>(
    `SELECT id FROM clients WHERE status <> 'ARCHIVED' ORDER BY id LIMIT 1`,
  );
  const created = await gql<{ createProject: { project: { id: string } } }>(
    cluster.lbUrl,
    `mutation($input: CreateProjectInput!) { createProject(input: $input) { project { id } } }`,
    { input: { clientId: gid('Client', (clients[0] as { id: number }).id), name: 'Generated' } },
    token,
  );
  expect(created.errors).toBeUndefined();
  const projectId = created.data?.createProject.project.id as string;
  const count = async (jobId: number) =>
    (
      await db.query<{ n: number; k: number }>(
        `SELECT count(*)::int AS n, count(DISTINCT generation_key)::int AS k FROM posts WHERE generation_key LIKE $1`,
        [`${jobId}:%`],
      )
    ).rows[0] as { n: number; k: number };
  for (let attempt = 1; attempt <= 3; attempt++) {
    const res = await gql<{ generatePosts: { job: { id: string } } }>(
      cluster.lbUrl,
      `mutation($input: GeneratePostsInput!) { generatePosts(input: $input) { job { id } } }`,
      { input: { projectId, count: GENERATED, platforms: ['BLOG', 'LINKEDIN'] } },
      token,
    );
    expect(res.errors).toBeUndefined();
    const jobId = rawId(res.data?.generatePosts.job.id as string);
    // The worker holding the job's lock, once a first batch is committed.
    let holder: string | null = null;
    let partial = 0;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const [lock] = (
        await db.query<{ locked_by: string | null }>(
          'SELECT locked_by FROM graphile_worker._private_jobs WHERE key = $1',
          [`bg:${jobId}`],
        )
      ).rows;
      partial = (await count(jobId)).n;
      if (partial >= GENERATED) break;
      if (lock?.locked_by && partial > 0) {
        holder = cluster.workers.find((w) => w.runnerId === lock.locked_by)?.name ?? null;
        if (holder) break;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    if (!holder) continue; // finished before it could be caught running: try a new job
    const killedAt = Date.now();
    await cluster.killWorker(holder);
    partial = (await count(jobId)).n;
    const worker = holder;
    const finished = (async (): Promise<JobOutcome> => {
      await cluster.startWorker(worker);
      const row = await eventually(
        async () => {
          const { rows } = await db.query<{ status: string; attempts: number }>(
            'SELECT status::text, attempts FROM background_jobs WHERE id = $1',
            [jobId],
          );
          const r = rows[0];
          return r && ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(r.status) ? r : null;
        },
        { timeoutMs: 120_000, intervalMs: 100, what: `generatePosts job ${jobId} finished` },
      );
      // graphile-worker deletes its copy shortly after the task returns.
      const queued = await eventually(
        async () => {
          const { rows } = await db.query<{ n: number }>(
            'SELECT count(*)::int AS n FROM graphile_worker._private_jobs WHERE key = $1',
            [`bg:${jobId}`],
          );
          return rows[0]?.n === 0 ? { n: 0 } : null;
        },
        { timeoutMs: 30_000, intervalMs: 100, what: "the queue's copy of the job completed" },
      ).catch(() => ({ n: 1 }));
      const { n, k } = await count(jobId);
      return { status: row.status, attempts: row.attempts, posts: n, keys: k, queued: queued.n };
    })();
    finished.catch(() => {});
    return { worker, killedAt, partial, finished };
  }
  throw new Error('three generatePosts jobs finished before a worker could be killed mid-job');
}
