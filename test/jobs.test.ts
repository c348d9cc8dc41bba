/**
 * Background jobs end to end through GraphQL, with an inline runner on the test database:
 * generatePosts, job status and permissions, retry/cancel, and enqueue-in-transaction.
 */
import { describe, expect, it } from 'vitest';
import { ADMIN, CLIENT1, EDITOR } from './fixtures.ts';
import { gid, rawId, useTestApp } from './harness.ts';
import { FAST_JOBS_ENV, JOB_FIELDS, useRunner, waitForJob } from './jobs-helpers.ts';

const t = await useTestApp(FAST_JOBS_ENV);
await useRunner(t);

const GENERATE = `mutation($input: GeneratePostsInput!) { generatePosts(input: $input) { job { id status kind } } }`;

async function someProject() {
  const [p] = await t.sql<{ id: number; client_id: number }>(
    `SELECT id, client_id FROM projects WHERE status <> 'ARCHIVED' ORDER BY id LIMIT 1`,
  );
  return p as { id: number; client_id: number };
}

describe('generatePosts', () => {
  it('returns a QUEUED job at once and creates exactly `count` posts', async () => {
    const project = await someProject();
    const before = await t.sql('SELECT count(*)::int AS n FROM posts WHERE project_id = $1', [
      project.id,
    ]);
    const res = await t.gql(
      GENERATE,
      {
        input: {
          projectId: gid('Project', project.id),
          count: 2500,
          platforms: ['INSTAGRAM', 'X'],
          from: '2027-01-01T09:00:00Z',
          to: '2027-03-01T09:00:00Z',
          titleTemplate: 'Idea {n} for {platform}',
          bodyTemplate: 'Body {n} on {date}',
        },
      },
      { as: EDITOR },
    );
    expect(res.errors).toBeUndefined();
    const job = res.data?.generatePosts.job;
    expect(job.kind).toBe('generatePosts');
    // Returned at once; the inline runner may already have picked it up.
    expect(['QUEUED', 'RUNNING']).toContain(job.status);
    const done = await waitForJob(t, job.id);
    expect(done).toMatchObject({
      status: 'SUCCEEDED',
      progress: 100,
      attempts: 1,
      lastError: null,
    });
    expect(done.startedBy?.email).toBe(EDITOR);
    expect(JSON.parse(done.result as string)).toMatchObject({
      requested: 2500,
      insertedThisRun: 2500,
    });
    const after = await t.sql('SELECT count(*)::int AS n FROM posts WHERE project_id = $1', [
      project.id,
    ]);
    expect(after[0].n - before[0].n).toBe(2500);
    const rows = await t.sql(
      `SELECT title, platform::text, scheduled_at FROM posts WHERE generation_key = $1 OR generation_key = $2 ORDER BY generation_key`,
      [`${rawId(job.id)}:0`, `${rawId(job.id)}:1`],
    );
    expect(rows.map((r) => [r.title, r.platform])).toEqual([
      ['Idea 1 for INSTAGRAM', 'INSTAGRAM'],
      ['Idea 2 for X', 'X'],
    ]);
    expect(new Date(rows[0].scheduled_at).toISOString()).toBe('2027-01-01T09:00:00.000Z');

    // Running the same job again (at-least-once delivery) adds nothing.
    await t.sql(`UPDATE background_jobs SET status = 'FAILED' WHERE id = $1`, [rawId(job.id)]);
    const retried = await t.gql(
      `mutation($id: ID!) { retryJob(input: { id: $id }) { job { status attempts } } }`,
      { id: job.id },
      { as: ADMIN },
    );
    // Queued again from scratch; the inline runner may already have picked it up by the time
    // the payload is read (then it is on its first new attempt).
    expect([
      { status: 'QUEUED', attempts: 0 },
      { status: 'RUNNING', attempts: 1 },
      { status: 'SUCCEEDED', attempts: 1 },
    ]).toContainEqual(retried.data?.retryJob.job);
    const again = await waitForJob(t, job.id);
    expect(again.status).toBe('SUCCEEDED');
    expect(JSON.parse(again.result as string)).toMatchObject({ insertedThisRun: 0 });
    const final = await t.sql('SELECT count(*)::int AS n FROM posts WHERE project_id = $1', [
      project.id,
    ]);
    expect(final[0].n - before[0].n).toBe(2500);
  });

  it('refuses bad input with the field named, and client users', async () => {
    const project = await someProject();
    const id = gid('Project', project.id);
    const zero = await t.gql(GENERATE, { input: { projectId: id, count: 0 } }, { as: ADMIN });
    expect(zero.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'input.count',
    });
    const tooMany = await t.gql(
      GENERATE,
      { input: { projectId: id, count: 10_001 } },
      { as: ADMIN },
    );
    expect(tooMany.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'input.count',
    });
    const backwards = await t.gql(
      GENERATE,
      {
        input: {
          projectId: id,
          count: 5,
          from: '2027-02-01T00:00:00Z',
          to: '2027-01-01T00:00:00Z',
        },
      },
      { as: ADMIN },
    );
    expect(backwards.errors?.[0]?.extensions).toMatchObject({ field: 'input.to' });
    const client = await t.gql(GENERATE, { input: { projectId: id, count: 5 } }, { as: CLIENT1 });
    expect(client.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const jobs = await t.sql(
      "SELECT count(*)::int AS n FROM background_jobs WHERE started_by_id IS NOT NULL AND kind = $1 AND payload->>'count' IN ('0', '10001')",
      ['generatePosts'],
    );
    expect(jobs[0].n).toBe(0);
  });

  it('jobs are listed for staff and hidden from client users', async () => {
    const list = await t.gql(
      `{ backgroundJobs(first: 5, filter: { kind: "generatePosts" }) { totalCount edges { node { ${JOB_FIELDS} } } } }`,
      {},
      { as: ADMIN },
    );
    expect(list.errors).toBeUndefined();
    expect(list.data?.backgroundJobs.totalCount).toBeGreaterThanOrEqual(1);
    const jobId = list.data?.backgroundJobs.edges[0].node.id;
    const asClient = await t.gql(
      `{ backgroundJobs(first: 5) { totalCount } }`,
      {},
      { as: CLIENT1 },
    );
    expect(asClient.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const node = await t.gql(
      `query($id: ID!) { node(id: $id) { id } }`,
      { id: jobId },
      { as: CLIENT1 },
    );
    expect(node.data?.node).toBeNull();
  });

  it('cancels a queued job before it runs; retryJob runs it after all', async () => {
    const project = await someProject();
    // A job whose run is far in the future stays QUEUED until cancelled.
    const res = await t.gql(
      GENERATE,
      { input: { projectId: gid('Project', project.id), count: 3 } },
      { as: ADMIN },
    );
    const id = res.data?.generatePosts.job.id as string;
    // It may already have run on this fast runner; only assert when it is still queued.
    const cancel = await t.gql(
      `mutation($id: ID!) { cancelJob(input: { id: $id }) { job { status } } }`,
      { id },
      { as: ADMIN },
    );
    if (cancel.errors) {
      expect(cancel.errors[0]?.extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'input.id',
      });
      return;
    }
    expect(cancel.data?.cancelJob.job.status).toBe('CANCELLED');
    const cancelled = await waitForJob(t, id, ['CANCELLED']);
    expect(cancelled.status).toBe('CANCELLED');
    const retry = await t.gql(
      `mutation($id: ID!) { retryJob(input: { id: $id }) { job { status } } }`,
      { id },
      { as: ADMIN },
    );
    expect(retry.data?.retryJob.job.status).toBe('QUEUED');
    expect((await waitForJob(t, id)).status).toBe('SUCCEEDED');
    const again = await t.gql(
      `mutation($id: ID!) { retryJob(input: { id: $id }) { job { status } } }`,
      { id },
      { as: ADMIN },
    );
    expect(again.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'input.id',
    });
  });
});

describe('jobs are enqueued in the mutation transaction', () => {
  it('a mutation that rolls back at commit leaves neither its change nor its job', async () => {
    const [post] = await t.sql<{ id: number }>(
      `SELECT id FROM posts WHERE status = 'IN_REVIEW' ORDER BY id LIMIT 1`,
    );
    const id = gid('Post', (post as { id: number }).id);
    const jobsBefore = await t.sql('SELECT count(*)::int AS n FROM background_jobs');
    const queuedBefore = await t.sql(
      'SELECT count(*)::int AS n FROM graphile_worker._private_jobs',
    );
    // A deferred constraint that fails at COMMIT, after the update and the enqueue ran.
    await t.sql(`CREATE TABLE fail_commit (on_ boolean)`);
    await t.sql(`CREATE FUNCTION fail_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF EXISTS (SELECT 1 FROM fail_commit) THEN RAISE EXCEPTION 'commit refused'; END IF; RETURN NULL; END $$`);
    await t.sql(`CREATE CONSTRAINT TRIGGER fail_commit AFTER INSERT ON background_jobs
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_commit()`);
    await t.sql('INSERT INTO fail_commit VALUES (true)');
    try {
      const res = await t.gql(
        `mutation($id: ID!) { updatePost(input: { id: $id, status: APPROVED }) { post { status } } }`,
        { id },
        { as: ADMIN },
      );
      expect(res.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
      const [row] = await t.sql('SELECT status::text FROM posts WHERE id = $1', [
        (post as { id: number }).id,
      ]);
      expect(row.status).toBe('IN_REVIEW');
      expect((await t.sql('SELECT count(*)::int AS n FROM background_jobs'))[0].n).toBe(
        jobsBefore[0].n,
      );
      expect(
        (await t.sql('SELECT count(*)::int AS n FROM graphile_worker._private_jobs'))[0].n,
      ).toBe(queuedBefore[0].n);
    } finally {
      await t.sql('DROP TRIGGER fail_commit ON background_jobs');
      await t.sql('DROP FUNCTION fail_commit() CASCADE');
      await t.sql('DROP TABLE fail_commit');
    }
    // The same mutation, committed, has its notification job.
    const ok = await t.gql(
      `mutation($id: ID!) { updatePost(input: { id: $id, status: APPROVED }) { post { status } } }`,
      { id },
      { as: ADMIN },
    );
    expect(ok.data?.updatePost.post.status).toBe('APPROVED');
    const jobs = await t.sql(
      `SELECT kind, payload FROM background_jobs WHERE kind = 'sendEmail' AND (payload->>'postId')::int = $1`,
      [(post as { id: number }).id],
    );
    expect(jobs).toHaveLength(1);
  });
});

describe('backgroundJob subscription (server-sent events)', () => {
  it('streams the job until it is finished', async () => {
    const project = await someProject();
    const res = await t.gql(
      GENERATE,
      { input: { projectId: gid('Project', project.id), count: 300 } },
      { as: ADMIN },
    );
    const id = res.data?.generatePosts.job.id as string;
    const sse = await t.app.yoga.fetch('http://postline.test/graphql', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'text/event-stream',
        authorization: `Bearer ${await t.tokenFor(ADMIN)}`,
      },
      body: JSON.stringify({
        query: 'subscription($id: ID!) { backgroundJob(id: $id) { status progress } }',
        variables: { id },
      }),
    });
    expect(sse.headers.get('content-type')).toMatch(/text\/event-stream/);
    const text = await sse.text();
    const events = text
      .split('\n')
      .filter((l) => l.startsWith('data: ') && l.length > 6)
      .map((l) => JSON.parse(l.slice(6)))
      .filter((e) => e.data);
    expect(events.length).toBeGreaterThanOrEqual(1);
    expect(events.at(-1).data.backgroundJob).toEqual({ status: 'SUCCEEDED', progress: 100 });
    expect(text).toMatch(/event: complete/);
  });
});
