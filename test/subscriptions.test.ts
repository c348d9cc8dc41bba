/**
 * The `backgroundJob` subscription with the real client libraries over HTTP: Apollo Client's
 * HttpLink (multipart subscriptions), graphql-sse (distinct connections mode) and urql
 * (fetchSubscriptions). Each sees the job QUEUED, then RUNNING, then SUCCEEDED: the job is
 * started with no runner, the runner starts once every client saw QUEUED, and a row lock on the
 * project holds the job in RUNNING until every client saw that too.
 */
import { ApolloClient, gql, HttpLink, InMemoryCache } from '@apollo/client';
import { fetchExchange, Client as UrqlClient } from '@urql/core';
import { createClient as createSseClient } from 'graphql-sse';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startJobRunner } from '../src/jobs/runner.ts';
import { ADMIN, CLIENT1 } from './fixtures.ts';
import { gid, useTestApp } from './harness.ts';
import { serve } from './http.ts';
import { FAST_JOBS_ENV } from './jobs-helpers.ts';
import { eventually } from './wait.ts';

const t = await useTestApp(FAST_JOBS_ENV);
const http = await serve(t.app);
afterAll(() => http.close());

const SUBSCRIPTION =
  'subscription Follow($id: ID!) { backgroundJob(id: $id) { id status progress } }';

interface Seen {
  statuses: string[];
  errors: string[];
  done: boolean;
}
const seen = (): Seen => ({ statuses: [], errors: [], done: false });
/** Statuses in order, repeats (progress updates) collapsed. */
const steps = (s: Seen) => s.statuses.filter((v, i, all) => v !== all[i - 1]);

function followWithApollo(jobId: string, token: string, into: Seen) {
  const client = new ApolloClient({
    cache: new InMemoryCache(),
    link: new HttpLink({ uri: http.url, headers: { authorization: `Bearer ${token}` } }),
  });
  return client.subscribe({ query: gql(SUBSCRIPTION), variables: { id: jobId } }).subscribe({
    next: (result) => {
      const status = (result.data as { backgroundJob?: { status: string } } | undefined)
        ?.backgroundJob?.status;
      if (status) into.statuses.push(status);
      if (result.error) into.errors.push(result.error.message);
    },
    error: (err: Error) => {
      into.errors.push(err.message);
      into.done = true;
    },
    complete: () => {
      into.done = true;
    },
  });
}

async function followWithSse(jobId: string, token: string, into: Seen) {
  const client = createSseClient({ url: http.url, headers: { authorization: `Bearer ${token}` } });
  try {
    for await (const result of client.iterate({ query: SUBSCRIPTION, variables: { id: jobId } })) {
      const status = (result.data as { backgroundJob?: { status: string } } | null | undefined)
        ?.backgroundJob?.status;
      if (status) into.statuses.push(status);
      for (const e of result.errors ?? []) into.errors.push(e.message);
    }
  } catch (err) {
    into.errors.push((err as Error).message);
  } finally {
    into.done = true;
    client.dispose();
  }
}

function followWithUrql(jobId: string, token: string, into: Seen) {
  const client = new UrqlClient({
    url: http.url,
    exchanges: [fetchExchange],
    fetchSubscriptions: true,
    fetchOptions: { headers: { authorization: `Bearer ${token}` } },
  });
  return client.subscription(SUBSCRIPTION, { id: jobId }).subscribe((result) => {
    const status = result.data?.backgroundJob?.status as string | undefined;
    if (status) into.statuses.push(status);
    if (result.error) into.errors.push(result.error.message);
  });
}

async function startJob(count: number) {
  const [project] = await t.sql<{ id: number }>(
    `SELECT id FROM projects WHERE status <> 'ARCHIVED' ORDER BY id LIMIT 1`,
  );
  const res = await t.gql(
    `mutation($input: GeneratePostsInput!) { generatePosts(input: $input) { job { id status } } }`,
    { input: { projectId: gid('Project', project!.id), count } },
    { as: ADMIN },
  );
  expect(res.data?.generatePosts.job.status).toBe('QUEUED');
  return { jobId: res.data?.generatePosts.job.id as string, projectId: project!.id };
}

describe('backgroundJob with Apollo Client, graphql-sse and urql', () => {
  it('every client receives QUEUED → RUNNING → SUCCEEDED', async () => {
    const { jobId, projectId } = await startJob(30);
    const token = await t.tokenFor(ADMIN);
    const apollo = seen();
    const sse = seen();
    const urql = seen();
    const apolloSub = followWithApollo(jobId, token, apollo);
    void followWithSse(jobId, token, sse);
    const urqlSub = followWithUrql(jobId, token, urql);
    const all = [apollo, sse, urql];

    // Hold the project row: the job goes RUNNING, then waits to insert its posts.
    const lock = new pg.Client({ connectionString: t.url });
    await lock.connect();
    let runner: Awaited<ReturnType<typeof startJobRunner>> | null = null;
    try {
      await eventually(() => all.every((s) => s.statuses.includes('QUEUED')), {
        what: 'every client seeing QUEUED',
      });
      await lock.query('BEGIN');
      await lock.query('SELECT id FROM projects WHERE id = $1 FOR UPDATE', [projectId]);
      runner = await startJobRunner(t.app.services, { databaseUrl: t.url, cron: false });
      await eventually(() => all.every((s) => s.statuses.includes('RUNNING')), {
        what: 'every client seeing RUNNING',
      });
      await lock.query('COMMIT');
      await eventually(() => all.every((s) => s.statuses.at(-1) === 'SUCCEEDED'), {
        timeoutMs: 20_000,
        what: 'every client seeing SUCCEEDED',
      });
      await eventually(() => apollo.done && sse.done, { what: 'the streams ending' });
    } finally {
      await lock.query('ROLLBACK').catch(() => {});
      await lock.end();
      apolloSub.unsubscribe();
      urqlSub.unsubscribe();
      await runner?.stop(5000);
    }
    for (const s of all) {
      expect(steps(s)).toEqual(['QUEUED', 'RUNNING', 'SUCCEEDED']);
      expect(s.errors).toEqual([]);
    }
  });

  it('applies the same authorization on every transport: a client user is refused', async () => {
    const { jobId } = await startJob(1);
    const token = await t.tokenFor(CLIENT1);
    const apollo = seen();
    const sse = seen();
    const sub = followWithApollo(jobId, token, apollo);
    await followWithSse(jobId, token, sse);
    await eventually(() => apollo.done || apollo.errors.length > 0, {
      what: 'Apollo seeing the refusal',
    });
    sub.unsubscribe();
    for (const s of [apollo, sse]) {
      expect(s.statuses).toEqual([]);
      expect(s.errors).toEqual(['Your role (CLIENT) may not follow background jobs']);
    }
  });

  it('answers the multipart Accept header Apollo sends, instead of 406', async () => {
    const { jobId } = await startJob(1);
    const res = await fetch(http.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'multipart/mixed;boundary="graphql";subscriptionSpec="1.0",application/json',
        authorization: `Bearer ${await t.tokenFor(ADMIN)}`,
      },
      body: JSON.stringify({ query: SUBSCRIPTION, variables: { id: jobId } }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(
      'multipart/mixed; boundary="graphql"; subscriptionSpec="1.0"',
    );
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first.startsWith('\r\n--graphql')).toBe(true);
    await reader.cancel();
  });
});
