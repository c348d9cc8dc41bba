/**
 * sendEmail through a real SMTP server (smtp-server in this process): notifications on post
 * approval and deliverable review, retries with backoff, FAILED after the last attempt,
 * retryJob, and one message per recipient even when the job runs twice.
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, describe, expect, it } from 'vitest';
import { ADMIN, CLIENT1, EDITOR } from './fixtures.ts';
import { gid, useTestApp } from './harness.ts';
import { FAST_JOBS_ENV, useRunner, waitForJob } from './jobs-helpers.ts';

interface Received {
  to: string[];
  data: string;
}
const received: Received[] = [];
const rcptAttempts: { to: string; at: number }[] = [];
let rejectNext = 0;
let rejectAll = false;

const smtp = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  logger: false,
  onRcptTo(address, _session, cb) {
    rcptAttempts.push({ to: address.address, at: Date.now() });
    if (rejectAll || rejectNext > 0) {
      rejectNext--;
      const err = Object.assign(new Error('Mailbox busy, try later'), { responseCode: 450 });
      cb(err);
      return;
    }
    cb();
  },
  onData(stream, session, cb) {
    let data = '';
    stream.on('data', (c) => {
      data += String(c);
    });
    stream.on('end', () => {
      received.push({ to: session.envelope.rcptTo.map((r) => r.address), data });
      cb();
    });
  },
});
await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
afterAll(() => new Promise<void>((resolve) => smtp.close(() => resolve())));
const port = (smtp.server.address() as AddressInfo).port;

const t = await useTestApp({ ...FAST_JOBS_ENV, SMTP_URL: `smtp://127.0.0.1:${port}` });
await useRunner(t);

async function emailJobFor(field: 'postId' | 'deliverableId', id: number) {
  const [row] = await t.sql<{ id: number }>(
    `SELECT id FROM background_jobs WHERE kind = 'sendEmail' AND (payload->>'${field}')::int = $1 ORDER BY id DESC LIMIT 1`,
    [id],
  );
  expect(row).toBeDefined();
  return gid('BackgroundJob', (row as { id: number }).id);
}

async function postInReview() {
  const [post] = await t.sql<{ id: number; client_id: number; email: string }>(
    `SELECT p.id, p.client_id, u.email FROM posts p JOIN users u ON u.id = p.author_id
     JOIN clients c ON c.id = p.client_id
     WHERE p.status = 'IN_REVIEW' AND c.slug = (SELECT slug FROM clients ORDER BY id LIMIT 1) ORDER BY p.id LIMIT 1 OFFSET $1`,
    [Math.floor(Math.random() * 5)],
  );
  return post as { id: number; client_id: number; email: string };
}

const APPROVE = `mutation($id: ID!) { updatePost(input: { id: $id, status: APPROVED }) { post { status } } }`;

describe('sendEmail', () => {
  it('a client approving a post e-mails its author, once even when the job runs twice', async () => {
    const post = await postInReview();
    const res = await t.gql(APPROVE, { id: gid('Post', post.id) }, { as: CLIENT1 });
    expect(res.errors).toBeUndefined();
    const jobId = await emailJobFor('postId', post.id);
    const done = await waitForJob(t, jobId);
    expect(done).toMatchObject({ status: 'SUCCEEDED', attempts: 1, kind: 'sendEmail' });
    const mine = received.filter((m) => m.data.includes(`outbox-`) && m.to.includes(post.email));
    expect(mine).toHaveLength(1);
    expect(mine[0]?.data).toMatch(/Subject: Approved: /);
    const count = received.length;

    // Deliver the job again: the outbox already marks the message sent.
    await t.sql(
      `UPDATE background_jobs SET status = 'FAILED' WHERE id = (SELECT max(id) FROM background_jobs WHERE kind = 'sendEmail')`,
    );
    const retry = await t.gql(
      `mutation($id: ID!) { retryJob(input: { id: $id }) { job { status } } }`,
      { id: jobId },
      { as: ADMIN },
    );
    expect(retry.errors).toBeUndefined();
    const again = await waitForJob(t, jobId);
    expect(again.status).toBe('SUCCEEDED');
    expect(JSON.parse(again.result as string)).toMatchObject({ sentThisRun: 0 });
    expect(received).toHaveLength(count);
  });

  it('fails twice, then succeeds: attempts, growing backoff and final status', async () => {
    const post = await postInReview();
    rejectNext = 2;
    const firstAttempt = rcptAttempts.length;
    const res = await t.gql(APPROVE, { id: gid('Post', post.id) }, { as: EDITOR });
    expect(res.errors).toBeUndefined();
    const done = await waitForJob(t, await emailJobFor('postId', post.id));
    expect(done.status).toBe('SUCCEEDED');
    expect(done.attempts).toBe(3);
    expect(done.lastError).toMatch(/Mailbox busy/);
    const times = rcptAttempts.slice(firstAttempt).map((a) => a.at);
    expect(times).toHaveLength(3);
    // Backoff base 50 ms: at least 50 ms before attempt 2, 100 ms before attempt 3.
    expect((times[1] as number) - (times[0] as number)).toBeGreaterThanOrEqual(45);
    expect((times[2] as number) - (times[1] as number)).toBeGreaterThanOrEqual(95);
  });

  it('always failing ends FAILED with its error without blocking other jobs; retryJob sends it', async () => {
    const [d] = await t.sql<{ id: number; client_id: number }>(
      `SELECT id, client_id FROM deliverables WHERE status = 'IN_PROGRESS' ORDER BY id LIMIT 1`,
    );
    const deliverable = d as { id: number; client_id: number };
    const users = await t.sql<{ email: string }>(
      `SELECT email FROM users WHERE client_id = $1 AND role = 'CLIENT'`,
      [deliverable.client_id],
    );
    expect(users.length).toBeGreaterThan(0);
    rejectAll = true;
    const res = await t.gql(
      `mutation($id: ID!) { updateDeliverable(input: { id: $id, status: IN_REVIEW }) { deliverable { status } } }`,
      { id: gid('Deliverable', deliverable.id) },
      { as: EDITOR },
    );
    expect(res.errors).toBeUndefined();
    const jobId = await emailJobFor('deliverableId', deliverable.id);
    // Another job runs to completion meanwhile.
    const [project] = await t.sql<{ id: number }>(
      `SELECT id FROM projects WHERE status <> 'ARCHIVED' ORDER BY id LIMIT 1`,
    );
    const other = await t.gql(
      `mutation($p: ID!) { generatePosts(input: { projectId: $p, count: 10 }) { job { id } } }`,
      { p: gid('Project', (project as { id: number }).id) },
      { as: ADMIN },
    );
    expect((await waitForJob(t, other.data?.generatePosts.job.id)).status).toBe('SUCCEEDED');

    const failed = await waitForJob(t, jobId);
    expect(failed.status).toBe('FAILED');
    expect(failed.attempts).toBe(failed.maxAttempts);
    expect(failed.lastError).toMatch(/Mailbox busy/);

    rejectAll = false;
    const retry = await t.gql(
      `mutation($id: ID!) { retryJob(input: { id: $id }) { job { status attempts } } }`,
      { id: jobId },
      { as: ADMIN },
    );
    // Queued from scratch; the inline runner may already be on its first new attempt.
    expect([
      { status: 'QUEUED', attempts: 0 },
      { status: 'RUNNING', attempts: 1 },
      { status: 'SUCCEEDED', attempts: 1 },
    ]).toContainEqual(retry.data?.retryJob.job);
    const done = await waitForJob(t, jobId);
    expect(done.status).toBe('SUCCEEDED');
    const to = received
      .filter((m) => m.data.includes('ready for your review'))
      .flatMap((m) => m.to);
    expect(to.sort()).toEqual(users.map((u) => u.email).sort());
  });
});
