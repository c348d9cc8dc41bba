/**
 * Background-job figures (issue 8), on a fresh database of the PostgreSQL at DATABASE_URL:
 *  1. generatePosts(count: 10000): mutation latency, and time until the job is SUCCEEDED
 *     (inline runner, default settings), with the number of posts made;
 *  2. jobs per second for a trivial task with one and with two `npm run worker` processes;
 *  3. enqueue-to-start latency p50/p95 of tracked jobs on an idle worker (LISTEN/NOTIFY).
 *
 *   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres node --import tsx bench/jobs.ts
 * Options (env): BENCH_NOOP_JOBS (default 3000), BENCH_LATENCY_SAMPLES (default 200).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import pg from 'pg';
import { createApp } from '../src/app.ts';
import { TokenService } from '../src/auth/tokens.ts';
import { loadConfig } from '../src/config.ts';
import { quoteIdent } from '../src/db/embedded.ts';
import { applyMigrations } from '../src/db/migrations.ts';
import { createPool } from '../src/db/pool.ts';
import { createPrisma } from '../src/db/prisma.ts';
import { seed } from '../src/db/seed.ts';
import { enqueueJob, pgSql } from '../src/jobs/queue.ts';
import { installWorkerSchema, startJobRunner } from '../src/jobs/runner.ts';
import { createLogger } from '../src/observability/logger.ts';

const adminUrl = process.env.DATABASE_URL;
if (!adminUrl) {
  process.stderr.write(
    'Set DATABASE_URL to a PostgreSQL server (a scratch database is created on it)\n',
  );
  process.exit(78);
}
const NOOP_JOBS = Number(process.env.BENCH_NOOP_JOBS ?? 3000);
const SAMPLES = Number(process.env.BENCH_LATENCY_SAMPLES ?? 200);

const dbName = `postline_bench_jobs_${Date.now().toString(36)}`;
const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`CREATE DATABASE ${quoteIdent(dbName)}`);
const u = new URL(adminUrl);
u.pathname = `/${dbName}`;
const url = u.toString();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};
const children: ChildProcess[] = [];
const cleanups: (() => Promise<void>)[] = [];

try {
  await applyMigrations(url);
  await installWorkerSchema(url);
  const seedPool = new pg.Pool({ connectionString: url, max: 2 });
  await seed(seedPool, {
    posts: 2000,
    clients: 4,
    projectsPerClient: 3,
    deliverablesPerProject: 2,
    staff: 3,
  });
  await seedPool.end();
  const benchPool = new pg.Pool({ connectionString: url, max: 3 });
  benchPool.on('error', () => {});
  cleanups.push(() => benchPool.end());
  const sql = pgSql(benchPool);
  const out: string[] = [];
  const line = (s: string) => {
    out.push(s);
    process.stdout.write(`${s}\n`);
  };
  line(
    `# Background jobs (bench/jobs.ts) — Node ${process.version}, PostgreSQL ${(await sql<{ v: string }>("SELECT current_setting('server_version') AS v"))[0]?.v}`,
  );

  // 1. generatePosts of 10,000 posts end to end through GraphQL, inline runner.
  {
    const config = loadConfig({
      NODE_ENV: 'production',
      JWT_SECRET: 'bench-secret-bench-secret-bench-secret!',
      DATABASE_URL: url,
      LOG_LEVEL: 'silent',
    });
    const pool = createPool(url, { ...config.pool, size: 5 });
    const services = {
      config,
      pool,
      prisma: createPrisma(pool),
      tokens: new TokenService(config.jwtSecret, 3600),
      logger: createLogger('silent'),
    };
    const app = createApp(services);
    const runner = await startJobRunner(app.services, { databaseUrl: url, cron: false });
    const gql = async (query: string, variables: object, token?: string) => {
      const res = await app.yoga.fetch('http://bench/graphql', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({ query, variables }),
      });
      return (await res.json()) as { data: any; errors?: unknown[] };
    };
    const login = await gql(
      'mutation { login(input: { email: "admin@postline.dev", password: "postline-demo" }) { token } }',
      {},
    );
    const token = login.data.login.token as string;
    const [project] = await sql<{ id: number }>(
      `SELECT id FROM projects WHERE status <> 'ARCHIVED' ORDER BY id LIMIT 1`,
    );
    const projectId = Buffer.from(`Project:${project?.id}`).toString('base64url');
    const start = (count: number) =>
      gql(
        'mutation($p: ID!, $n: Int!) { generatePosts(input: { projectId: $p, count: $n }) { job { id status } } }',
        { p: projectId, n: count },
        token,
      );
    // Warm-up: the first request of a process compiles and plans everything once.
    await start(1);
    await sleep(500);
    const t0 = performance.now();
    const res = await start(10_000);
    const returned = performance.now() - t0;
    const jobId = Number(
      Buffer.from(res.data.generatePosts.job.id, 'base64url').toString().split(':')[1],
    );
    let status = '';
    while (!['SUCCEEDED', 'FAILED'].includes(status)) {
      await sleep(10);
      status =
        (
          await sql<{ status: string }>('SELECT status::text FROM background_jobs WHERE id = $1', [
            jobId,
          ])
        )[0]?.status ?? '';
    }
    const total = performance.now() - t0;
    const [made] = await sql<{ n: number }>(
      `SELECT count(*)::int AS n FROM posts WHERE generation_key LIKE $1`,
      [`${jobId}:%`],
    );
    const [timing] = await sql<{ run_ms: number }>(
      `SELECT extract(epoch FROM finished_at - started_at) * 1000 AS run_ms FROM background_jobs WHERE id = $1`,
      [jobId],
    );
    line(
      `generatePosts(count: 10000): mutation returned in ${returned.toFixed(1)} ms; job ${status} after ${(total / 1000).toFixed(2)} s end to end (task ran ${(Number(timing?.run_ms) / 1000).toFixed(2)} s); posts created: ${made?.n}`,
    );
    await runner.stop(10_000);
    await pool.end();
  }

  // 2. Trivial-task throughput with 1 and 2 worker processes (default concurrency).
  const startWorker = async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/jobs/worker-main.ts'], {
      env: {
        ...process.env,
        DATABASE_URL: url,
        LOG_LEVEL: 'silent',
        NODE_ENV: 'production',
        JWT_SECRET: 'bench-secret-bench-secret-bench-secret!',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (d) => String(d).includes('ready') && resolve());
      child.once('exit', (c) => reject(new Error(`worker exited (${c})`)));
    });
    return child;
  };
  const stopWorkers = async () => {
    await Promise.all(
      children.splice(0).map((c) => {
        const gone = new Promise((r) => c.once('exit', r));
        c.kill('SIGTERM');
        return gone;
      }),
    );
  };
  for (const workers of [1, 2]) {
    for (let i = 0; i < workers; i++) await startWorker();
    await sleep(500);
    const t0 = performance.now();
    await sql(
      `SELECT 1 FROM graphile_worker.add_jobs(ARRAY(SELECT ('noop', '{}'::json, NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec FROM generate_series(1, $1)))`,
      [NOOP_JOBS],
    );
    for (;;) {
      const [left] = await sql<{ n: number }>(
        `SELECT count(*)::int AS n FROM graphile_worker._private_jobs`,
      );
      if (!left?.n) break;
      await sleep(20);
    }
    const s = (performance.now() - t0) / 1000;
    line(
      `trivial task, ${workers} worker process${workers > 1 ? 'es' : ''} (concurrency 4 each): ${NOOP_JOBS} jobs in ${s.toFixed(2)} s = ${(NOOP_JOBS / s).toFixed(0)} jobs/s`,
    );
    await stopWorkers();
  }

  // 3. Enqueue-to-start latency of tracked jobs: one worker, idle, one job at a time.
  {
    await startWorker();
    await sleep(500);
    const latencies: number[] = [];
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    for (let i = 0; i < SAMPLES; i++) {
      await client.query('BEGIN');
      const id = await enqueueJob(pgSql(client), { kind: 'noop', payload: {} });
      await client.query('COMMIT');
      for (;;) {
        const [row] = await sql<{ ms: number | null }>(
          `SELECT extract(epoch FROM started_at - created_at) * 1000 AS ms FROM background_jobs WHERE id = $1 AND status = 'SUCCEEDED'`,
          [id],
        );
        if (row) {
          latencies.push(Number(row.ms));
          break;
        }
        await sleep(2);
      }
    }
    await client.end();
    line(
      `enqueue-to-start latency (${SAMPLES} tracked jobs, idle worker): p50 ${pct(latencies, 50).toFixed(1)} ms, p95 ${pct(latencies, 95).toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms`,
    );
    await stopWorkers();
  }
} finally {
  for (const c of children) c.kill('SIGKILL');
  for (const c of cleanups) await c().catch(() => {});
  await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(dbName)} WITH (FORCE)`).catch(() => {});
  await admin.end();
}
process.exit(0);
