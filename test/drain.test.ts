/**
 * Graceful drain of a real server process on SIGTERM: /ready goes 503 first, an in-flight
 * request still gets its answer, subscription streams (SSE and multipart) complete, new
 * connections are refused once the drain period is over, and the process exits 0.
 */
import net from 'node:net';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ADMIN, PASSWORD } from './fixtures.ts';
import { cloneTemplate, gid } from './harness.ts';
import { startServerProcess } from './server-process.ts';
import { eventually } from './wait.ts';

const url = await cloneTemplate('drain');
const lock = new pg.Client({ connectionString: url });
await lock.connect();
afterAll(() => lock.end());

const SUBSCRIPTION = 'subscription($id: ID!) { backgroundJob(id: $id) { id status } }';

/** Opens a subscription stream and collects its text until the server ends it. */
function stream(origin: string, accept: string, token: string, jobId: string) {
  const seen = { text: '', ended: false, error: '' as string, headers: new Headers() };
  const done = (async () => {
    try {
      const res = await fetch(`${origin}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept, authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: SUBSCRIPTION, variables: { id: jobId } }),
      });
      seen.headers = res.headers;
      const decoder = new TextDecoder();
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        seen.text += decoder.decode(chunk, { stream: true });
      }
      seen.ended = true;
    } catch (err) {
      seen.error = String((err as Error).cause ?? err);
    }
  })();
  return { seen, done };
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('SIGTERM drains the server', () => {
  it('answers /ready 503, finishes in-flight work, completes streams, refuses new connections, exits 0', async () => {
    const server = await startServerProcess({ DATABASE_URL: url, SHUTDOWN_DRAIN_MS: '1500' });
    const port = Number(new URL(server.origin).port);
    const login = await server.gql(
      'mutation($e: String!, $p: String!) { login(input: { email: $e, password: $p }) { token } }',
      { e: ADMIN, p: PASSWORD },
    );
    const token = login.body.data.login.token as string;
    const [project] = (await lock.query('SELECT id FROM projects ORDER BY id LIMIT 1')).rows;
    // A job nobody runs (WORKER_MODE=separate, no worker): its subscription stays open.
    const started = await server.gql(
      'mutation($p: ID!) { generatePosts(input: { projectId: $p, count: 1 }) { job { id } } }',
      { p: gid('Project', project.id) },
      token,
    );
    const jobId = started.body.data.generatePosts.job.id as string;
    const sse = stream(server.origin, 'text/event-stream', token, jobId);
    const multipart = stream(
      server.origin,
      'multipart/mixed;subscriptionSpec="1.0", application/json',
      token,
      jobId,
    );
    await eventually(
      () => sse.seen.text.includes('QUEUED') && multipart.seen.text.includes('QUEUED'),
      {
        what: 'both streams saw the job',
      },
    );

    // A request held in flight by a row lock the test owns.
    const [post] = (await lock.query('SELECT id FROM posts ORDER BY id LIMIT 1')).rows;
    await lock.query('BEGIN');
    await lock.query('SELECT id FROM posts WHERE id = $1 FOR UPDATE', [post.id]);
    const inFlight = fetch(`${server.origin}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query:
          'mutation($id: ID!) { updatePost(input: { id: $id, title: "drained" }) { post { title } } }',
        variables: { id: gid('Post', post.id) },
      }),
    });
    await eventually(
      async () =>
        (
          await lock.query(
            `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
          )
        ).rowCount,
      { what: 'the update waiting for the lock' },
    );

    server.child.kill('SIGTERM');
    // Draining: still serving, but not ready; each response closes its connection.
    const ready = await eventually(
      async () => {
        const res = await fetch(`${server.origin}/ready`);
        return res.status === 503 ? res : null;
      },
      { what: '/ready 503' },
    );
    expect(await ready.json()).toEqual({ status: 'draining', pid: server.child.pid });
    expect(ready.headers.get('connection')).toBe('close');

    // After the drain period the listener is closed: new connections are refused, while the
    // held request is still in flight.
    await eventually(async () => !(await connects(port)), { what: 'connections refused' });
    await Promise.all([sse.done, multipart.done]);
    expect(sse.seen.error).toBe('');
    expect(sse.seen.text).toMatch(/event: complete\ndata:\n\n$/);
    expect(multipart.seen.error).toBe('');
    expect(multipart.seen.text.endsWith('--graphql--\r\n')).toBe(true);

    await lock.query('COMMIT');
    const answer = await inFlight;
    expect(answer.status).toBe(200);
    expect(answer.headers.get('connection')).toBe('close');
    expect(await answer.json()).toEqual({ data: { updatePost: { post: { title: 'drained' } } } });
    expect(await server.exited).toBe(0);
  }, 120_000);
});
