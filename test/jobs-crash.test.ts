/**
 * Separate worker processes (`src/jobs/worker-main.ts`): a worker killed with SIGKILL in the
 * middle of a job leaves it locked; a new worker releases the dead one's lock and finishes it,
 * and the job's posts exist exactly once. SIGTERM lets the running job finish, then exits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { ADMIN } from './fixtures.ts';
import { gid, rawId, useTestApp } from './harness.ts';
import { FAST_JOBS_ENV, waitForJob } from './jobs-helpers.ts';
import { eventually } from './wait.ts';

const t = await useTestApp({ ...FAST_JOBS_ENV, WORKER_MODE: 'separate' });
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

/** Starts `node --import tsx src/jobs/worker-main.ts`; resolves when it reports ready. */
async function startWorker(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/jobs/worker-main.ts'], {
    env: {
      ...process.env,
      ...FAST_JOBS_ENV,
      NODE_ENV: 'test',
      DATABASE_URL: t.url,
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      SHUTDOWN_TIMEOUT_MS: '20000',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d) => {
      out += String(d);
      if (out.includes('ready')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`worker exited early (${code})`)));
  });
  return child;
}

async function startGeneration(count: number, batchSize?: number) {
  const [project] = await t.sql<{ id: number }>(
    `SELECT id FROM projects WHERE status <> 'ARCHIVED' ORDER BY id DESC LIMIT 1`,
  );
  const res = await t.gql(
    `mutation($input: GeneratePostsInput!) { generatePosts(input: $input) { job { id status } } }`,
    {
      input: {
        projectId: gid('Project', (project as { id: number }).id),
        count,
        platforms: ['BLOG'],
      },
    },
    { as: ADMIN },
  );
  expect(res.errors).toBeUndefined();
  const id = res.data?.generatePosts.job.id as string;
  if (batchSize) {
    // Smaller batches make the job long enough to interrupt (the payload is Postline's own).
    await t.sql(
      `UPDATE background_jobs SET payload = payload || jsonb_build_object('batchSize', $2::int) WHERE id = $1`,
      [rawId(id), batchSize],
    );
  }
  return id;
}

const generatedBy = async (jobId: string) =>
  (
    await t.sql(
      `SELECT count(*)::int AS n, count(DISTINCT generation_key)::int AS k FROM posts WHERE generation_key LIKE $1`,
      [`${rawId(jobId)}:%`],
    )
  )[0] as { n: number; k: number };

describe('separate worker processes', () => {
  it('SIGKILL mid-job: a new worker finishes the job and every post exists once', async () => {
    const id = await startGeneration(10_000, 250);
    const first = await startWorker();
    const running = await waitForJob(t, id, ['RUNNING'], 120_000);
    expect(running.attempts).toBe(1);
    // Wait until some batches are committed, then kill without any chance to clean up.
    const deadline = Date.now() + 30_000;
    while ((await generatedBy(id)).n === 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const partial = await generatedBy(id);
    expect(partial.n).toBeGreaterThan(0);
    expect(partial.n).toBeLessThan(10_000);
    const locked = await t.sql(
      `SELECT count(*)::int AS n FROM graphile_worker._private_jobs WHERE locked_by IS NOT NULL AND key = $1`,
      [`bg:${rawId(id)}`],
    );
    expect(locked[0].n).toBe(1);

    await startWorker();
    const done = await waitForJob(t, id, ['SUCCEEDED', 'FAILED'], 60_000);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.attempts).toBe(2);
    expect(await generatedBy(id)).toEqual({ n: 10_000, k: 10_000 });
    // The queue's copy is completed (deleted) shortly after; none is left locked or waiting.
    await eventually(
      async () =>
        (
          await t.sql(
            `SELECT count(*)::int AS n FROM graphile_worker._private_jobs WHERE key = $1`,
            [`bg:${rawId(id)}`],
          )
        )[0].n === 0,
      { timeoutMs: 30_000, intervalMs: 100, what: "the queue's copy of the job completed" },
    );
  }, 240_000);

  it('SIGTERM: the worker finishes its running job, then exits 0', async () => {
    // Only this test's worker may take the job.
    await Promise.all(
      [...children].map((c) => {
        const gone = new Promise((r) => c.once('exit', r));
        c.kill('SIGTERM');
        return gone;
      }),
    );
    const worker = await startWorker();
    const id = await startGeneration(2000, 200);
    await waitForJob(t, id, ['RUNNING'], 120_000);
    const exited = new Promise<number | null>((resolve) =>
      worker.once('exit', (code) => resolve(code)),
    );
    worker.kill('SIGTERM');
    expect(await exited).toBe(0);
    const [row] = await t.sql('SELECT status::text FROM background_jobs WHERE id = $1', [
      rawId(id),
    ]);
    expect(row.status).toBe('SUCCEEDED');
    expect(await generatedBy(id)).toEqual({ n: 2000, k: 2000 });
  }, 240_000);
});
