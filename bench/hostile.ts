/**
 * `npm run bench:hostile [-- --ref <git ref>]`: the hostile-request table of issue #12, rerun
 * against production-mode servers on the benchmark database (50,000 posts by default).
 *
 * Every row gets a fresh server (so one row's memory or throttle state cannot colour the
 * next), is bounded in time (`--timeout`, 20 s: a stalled row ends as "timed out"), and is
 * measured from outside: what the attacker got and when, a concurrent `{ __typename }` probe
 * and a `/ready` probe (it takes a pool connection: pool starvation shows there), the server's
 * RSS from /proc before and at its peak, and the SQL statements its /metrics counted.
 * With `--ref`, the same rows run first against that commit (checked out into a temporary
 * worktree as `--compare` does, bench/lib/trees.ts), then against this checkout.
 * Results: bench/results/hostile-<timestamp>.json and the "Hostile requests" section of
 * BENCHMARKS.md (`--no-markdown` leaves it alone). Options:
 *   --ref <git ref>   the "before" side          --posts <n>     data size (50000)
 *   --timeout <s>     bound of one attack (20)   --rows a,b      only these row ids
 *   --node 20|24|<p>  servers' Node (24)         --label <text>  BENCHMARKS.md section
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { DEMO_PASSWORD } from '../src/db/seed.ts';
import { cleanupAll, installSignalHandlers, onCleanup } from './lib/cleanup.ts';
import { processRssMb } from './lib/cpu.ts';
import { prepareDatabase } from './lib/database.ts';
import { describeLoad, loadAverage, type Machine, machine } from './lib/machine.ts';
import { parseMetrics, type Snapshot, total } from './lib/prometheus.ts';
import { fmt, writeMarkdown } from './lib/report.ts';
import { describeLaunch, prepareLaunch, resolveNode, type ServerLaunch } from './lib/runtime.ts';
import {
  BENCH_METRICS_TOKEN,
  newJwtSecret,
  primeTypename,
  type RunningServer,
  startServer,
} from './lib/server.ts';
import { checkoutRef, currentTree, type Tree } from './lib/trees.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const t0 = performance.now();
const log = (line: string) =>
  process.stdout.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);

const { values: opts } = parseArgs({
  options: {
    ref: { type: 'string' },
    posts: { type: 'string', default: '50000' },
    timeout: { type: 'string', default: '20' },
    rows: { type: 'string' },
    node: { type: 'string' },
    label: { type: 'string', default: 'Hostile requests' },
    'no-markdown': { type: 'boolean', default: false },
  },
});
const ATTACK_MS = Number(opts.timeout) * 1000;
/** A probe slower than this counts as failed (the issue's "timed out"). */
const PROBE_TIMEOUT_MS = 5000;

// ---------------------------------------------------------------------------------------------
// Measuring around one attack

interface ProbeStats {
  n: number;
  p50: number | null;
  max: number | null;
  failures: number;
}

/** Sends one request after another (short pause between) until stopped; records latencies. */
function probeLoop(send: (signal: AbortSignal) => Promise<boolean>, pauseMs: number) {
  const latencies: number[] = [];
  let failures = 0;
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      const started = performance.now();
      const ok = await send(AbortSignal.timeout(PROBE_TIMEOUT_MS)).catch(() => false);
      latencies.push(performance.now() - started);
      if (!ok) failures++;
      await sleep(pauseMs);
    }
  })();
  return {
    async stop(): Promise<ProbeStats> {
      stopped = true;
      await done;
      const sorted = [...latencies].sort((a, b) => a - b);
      return {
        n: sorted.length,
        p50: sorted.length ? (sorted[Math.floor(sorted.length / 2)] as number) : null,
        max: sorted.length ? (sorted[sorted.length - 1] as number) : null,
        failures,
      };
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads a response body to the end without keeping it; returns its size in bytes. */
async function drain(res: Response): Promise<number> {
  let bytes = 0;
  if (!res.body) return 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.length;
  return bytes;
}

/** The first error code of a GraphQL response (small bodies only). */
async function answer(
  res: Response,
): Promise<{ status: number; code: string | null; data: boolean; text: string }> {
  const text = await res.text();
  let code: string | null = null;
  let data = false;
  try {
    const json = JSON.parse(text) as {
      data?: unknown;
      errors?: { extensions?: { code?: string } }[];
    };
    code = json.errors?.[0]?.extensions?.code ?? (json.errors?.length ? 'error' : null);
    data = json.data != null && Object.values(json.data as object).some((v) => v != null);
  } catch {
    // not JSON
  }
  return { status: res.status, code, data, text };
}

const describeAnswer = (a: { status: number; code: string | null; data?: boolean }) =>
  `${a.status}${a.code ? ` ${a.code}` : ''}${a.data ? ', data' : ''}`;

async function scrapeText(
  base: string,
  signal?: AbortSignal,
): Promise<{ text: string; ms: number }> {
  const started = performance.now();
  const res = await fetch(`${base}/metrics`, {
    headers: { authorization: `Bearer ${BENCH_METRICS_TOKEN}` },
    ...(signal ? { signal } : {}),
  });
  const text = await res.text();
  return { text, ms: performance.now() - started };
}

const STATEMENTS = 'postline_sql_statements_per_request_sum';
async function statements(base: string, timeoutMs = 15_000): Promise<number | null> {
  try {
    const { text } = await scrapeText(base, AbortSignal.timeout(timeoutMs));
    return total(parseMetrics(text), STATEMENTS) ?? null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// The rows

interface Env {
  base: string;
  server: RunningServer;
  db: pg.Pool;
  /** Unique per run and side: names of users and clients this run creates. */
  tag: string;
  signal: AbortSignal;
}

interface Outcome {
  /** What the attacker got, in a few words. */
  answer: string;
  /** Time to answer (ms); for revocation the time until the old token was refused. */
  ms: number | null;
  /** Row-specific figures. */
  detail?: Record<string, unknown>;
  note?: string;
}

interface Row {
  id: string;
  sent: string;
  /** Work before the measured attack (tokens, users); not timed. */
  setup?: (env: Env) => Promise<Record<string, string>>;
  /** A flood of many requests gets longer than one request: its own bound in ms. */
  boundMs?: number;
  attack: (env: Env, state: Record<string, string>) => Promise<Outcome>;
}

const gql = (
  base: string,
  query: string,
  opts: {
    token?: string;
    variables?: object;
    headers?: Record<string, string>;
    signal?: AbortSignal;
  } = {},
) =>
  fetch(`${base}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...opts.headers,
    },
    body: JSON.stringify({ query, ...(opts.variables ? { variables: opts.variables } : {}) }),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });

async function signIn(base: string, email: string, password = DEMO_PASSWORD): Promise<string> {
  const res = await gql(
    base,
    'mutation($e: String!, $p: String!) { login(input: { email: $e, password: $p }) { token } }',
    {
      variables: { e: email, p: password },
    },
  );
  const body = (await res.json()) as {
    data?: { login?: { token: string } };
    errors?: { message: string }[];
  };
  const token = body.data?.login?.token;
  if (!token) throw new Error(`login as ${email}: ${body.errors?.[0]?.message ?? res.status}`);
  return token;
}

/** A user with the demo password, created in SQL (copying client1's hash and client). */
async function createUser(db: pg.Pool, email: string, role: 'CLIENT' | 'ADMIN'): Promise<number> {
  const { rows } = await db.query<{ id: number }>(
    `insert into users (email, name, password_hash, role, client_id, created_at, updated_at)
     select $1, 'Hostile bench', password_hash, $2::"Role", case when $2 = 'CLIENT' then client_id end, now(), now()
       from users where email = 'client1@postline.dev'
     returning id`,
    [email, role],
  );
  const id = rows[0]?.id;
  if (id === undefined) throw new Error('client1@postline.dev is missing from the bench database');
  return id;
}

/** `F0..Fn`, each spreading the next twice (the issue's 23 fragments: n = 22). */
export function fragmentBomb(n: number): string {
  let s = '{ ...F0 }';
  for (let i = 0; i < n; i++) s += `\nfragment F${i} on Query { ...F${i + 1} ...F${i + 1} }`;
  return `${s}\nfragment F${n} on Query { __typename }`;
}

export function aliasFlood(n: number): string {
  const parts: string[] = [];
  for (let i = 0; i < n; i++)
    parts.push(`a${i}:posts(first:100){totalCount edges{node{id title}}}`);
  return `{${parts.join(' ')}}`;
}

const NESTED =
  '{clients(first:100){edges{node{id name projects(first:100){edges{node{id name posts(first:100){edges{node{id title status}}}}}}}}}}';

/** Polls `request` until `refused` says so or the attack's signal ends; ms from `since`. */
async function timeUntilRefused(
  env: Env,
  since: number,
  request: () => Promise<{ status: number; code: string | null; data: boolean }>,
  refused: (a: { status: number; code: string | null; data: boolean }) => boolean,
): Promise<{ ms: number | null; last: string; accepted: number }> {
  let accepted = 0;
  let last = '';
  while (!env.signal.aborted) {
    const a = await request();
    last = describeAnswer(a);
    if (refused(a)) return { ms: performance.now() - since, last, accepted };
    accepted++;
    await sleep(100);
  }
  return { ms: null, last, accepted };
}

const authRefusal = (a: { status: number; code: string | null }) =>
  a.status === 401 || a.status === 403 || a.code === 'UNAUTHENTICATED' || a.code === 'FORBIDDEN';

function streamedUpload(size: number) {
  const boundary = 'postline-hostile-bench';
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n` +
      `${JSON.stringify({ query: 'mutation($f: Upload!) { uploadAsset(file: $f, postId: "x") { asset { id } } }', variables: { f: null } })}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="map"\r\n\r\n{"0":["variables.f"]}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="0"; filename="big.png"\r\nContent-Type: image/png\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const chunk = Buffer.alloc(64 * 1024, 7);
  let sent = 0;
  const body = new Readable({
    read() {
      if (sent === 0) this.push(head);
      if (sent >= size) {
        this.push(tail);
        this.push(null);
        return;
      }
      const n = Math.min(chunk.length, size - sent);
      sent += n;
      this.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    },
  });
  return {
    body: Readable.toWeb(body) as ReadableStream,
    headers: {
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'content-length': String(head.length + size + tail.length),
      // Passes the CSRF check: the row is about authentication before the body is read.
      'apollo-require-preflight': 'true',
    },
    sent: () => sent,
  };
}

function rawRequest(base: string, request: string, signal: AbortSignal): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.end(request));
    let out = '';
    socket.on('data', (d) => (out += d));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
    signal.addEventListener('abort', () => socket.destroy(new Error('timed out')));
  });
}

const STACK = / at |node_modules|\/src\/|\.ts:\d|\.js:\d|Error:/;
const MB = 1024 * 1024;

const ROWS: Row[] = [
  {
    id: 'fragments',
    sent: `anonymous query, fragments F0..F22, each spreading the next twice (${fragmentBomb(22).length} bytes)`,
    async attack(env) {
      const started = performance.now();
      const a = await answer(await gql(env.base, fragmentBomb(22), { signal: env.signal }));
      return { answer: describeAnswer(a), ms: performance.now() - started };
    },
  },
  {
    id: 'aliases',
    sent: '2,000 aliases of `posts(first:100){totalCount edges{node{id title}}}`, CLIENT token',
    setup: async (env) => ({ token: await signIn(env.base, 'client1@postline.dev') }),
    async attack(env, s) {
      const started = performance.now();
      const res = await gql(env.base, aliasFlood(2000), { token: s.token, signal: env.signal });
      const small = res.headers.get('content-length');
      if (small && Number(small) < 100_000) {
        const a = await answer(res);
        return { answer: describeAnswer(a), ms: performance.now() - started };
      }
      const bytes = await drain(res);
      return {
        answer: `${res.status}, ${fmt(bytes / MB, 1)} MB body`,
        ms: performance.now() - started,
        detail: { bytes },
      };
    },
  },
  {
    id: 'nested',
    sent: '`clients(first:100){projects(first:100){posts(first:100){...}}}` as staff (ADMIN)',
    setup: async (env) => ({ token: await signIn(env.base, 'admin@postline.dev') }),
    async attack(env, s) {
      const started = performance.now();
      const res = await gql(env.base, NESTED, { token: s.token, signal: env.signal });
      const bytes = await drain(res);
      if (bytes < 20_000) {
        // Small: a refusal. Ask again for its code (refusals are cheap and cached by nothing).
        const a = await answer(await gql(env.base, NESTED, { token: s.token, signal: env.signal }));
        return { answer: describeAnswer(a), ms: performance.now() - started };
      }
      return {
        answer: `${res.status}, ${fmt(bytes / MB, 2)} MB body`,
        ms: performance.now() - started,
        detail: { bytes },
      };
    },
  },
  {
    id: 'upload',
    sent: 'anonymous `multipart/form-data` `uploadAsset` with a 20 MB file (streamed)',
    async attack(env) {
      const upload = streamedUpload(20 * MB);
      const started = performance.now();
      try {
        const res = await fetch(`${env.base}/graphql`, {
          method: 'POST',
          headers: upload.headers,
          body: upload.body,
          duplex: 'half',
          signal: env.signal,
        } as RequestInit);
        const sentBeforeAnswer = upload.sent();
        const a = await answer(res);
        return {
          answer: `${describeAnswer(a)} after ${fmt(sentBeforeAnswer / MB, 1)} MB sent`,
          ms: performance.now() - started,
          detail: { sentBeforeAnswer },
        };
      } catch (err) {
        if (env.signal.aborted) throw err;
        const cause = (err as { cause?: { code?: string } }).cause?.code ?? String(err);
        return {
          answer: `connection closed (${cause}) after ${fmt(upload.sent() / MB, 1)} MB sent`,
          ms: performance.now() - started,
          detail: { sentBeforeAnswer: upload.sent() },
        };
      }
    },
  },
  {
    id: 'metrics',
    boundMs: 120_000,
    sent: '2,000 distinct `GET /x-<n>` and 2,000 `query Op<n>{__typename}`, then 3 scrapes of /metrics',
    async attack(env) {
      const before = await scrapeText(env.base, env.signal);
      const started = performance.now();
      for (let i = 0; i < 2000 && !env.signal.aborted; i += 50) {
        await Promise.all(
          Array.from({ length: 50 }, async (_, j) => {
            const n = i + j;
            await drain(await fetch(`${env.base}/x-${n}`, { signal: env.signal }));
            await drain(await gql(env.base, `query Op${n}{__typename}`, { signal: env.signal }));
          }),
        );
      }
      const floodMs = performance.now() - started;
      const scrapes: number[] = [];
      let size = 0;
      for (let i = 0; i < 3; i++) {
        const s = await scrapeText(env.base, env.signal);
        scrapes.push(s.ms);
        size = s.text.length;
      }
      const sorted = [...scrapes].sort((a, b) => a - b);
      return {
        answer: `/metrics ${fmt(before.text.length / 1024, 0)} KB → ${fmt(size / 1024, 0)} KB`,
        // The figure that matters here: one scrape after the flood (median of 3).
        ms: sorted[1] ?? null,
        detail: {
          metricsBytesBefore: before.text.length,
          metricsBytesAfter: size,
          scrapeMsBefore: before.ms,
          scrapeMsAfter: scrapes,
          floodMs,
        },
        note: `scrape ${fmt(before.ms, 0)} ms before the flood`,
      };
    },
  },
  {
    id: 'revoke-delete',
    sent: 'CLIENT signs in, the user is deleted (SQL), the old token reads posts again',
    async setup(env) {
      const email = `${env.tag}-deleted@postline.dev`;
      const id = await createUser(env.db, email, 'CLIENT');
      const token = await signIn(env.base, email);
      const first = await answer(
        await gql(env.base, '{posts(first:5){edges{node{id title}}}}', { token }),
      );
      if (!first.data)
        throw new Error(`the fresh CLIENT cannot read posts: ${first.text.slice(0, 200)}`);
      return { token, id: String(id) };
    },
    async attack(env, s) {
      await env.db.query('delete from users where id = $1', [Number(s.id)]);
      const since = performance.now();
      const r = await timeUntilRefused(
        env,
        since,
        async () =>
          answer(
            await gql(env.base, '{posts(first:5){edges{node{id title}}}}', { token: s.token }),
          ),
        (a) => authRefusal(a) || !a.data,
      );
      return {
        answer:
          r.ms === null
            ? `still served (${r.last}) after ${r.accepted} reads`
            : `refused: ${r.last}, after ${r.accepted} accepted reads`,
        ms: r.ms,
        detail: { acceptedAfterDelete: r.accepted },
      };
    },
  },
  {
    id: 'revoke-demote',
    sent: 'ADMIN signs in, is demoted to CLIENT (SQL), the old token calls `createClient`',
    async setup(env) {
      const email = `${env.tag}-demoted@postline.dev`;
      const id = await createUser(env.db, email, 'ADMIN');
      return { token: await signIn(env.base, email), id: String(id) };
    },
    async attack(env, s) {
      await env.db.query(
        `update users set role = 'CLIENT', client_id = (select client_id from users where email = 'client1@postline.dev'), updated_at = now() where id = $1`,
        [Number(s.id)],
      );
      const since = performance.now();
      // Same slug every time: the first accepted call creates the client, later accepted ones
      // fail on the unique slug (after authorization), so polling writes at most one row.
      const slug = `${env.tag}-client`;
      const r = await timeUntilRefused(
        env,
        since,
        async () =>
          answer(
            await gql(
              env.base,
              'mutation($i: CreateClientInput!) { createClient(input: $i) { client { id } } }',
              {
                token: s.token,
                variables: { i: { name: 'Hostile bench', slug, industry: 'Bench' } },
              },
            ),
          ),
        authRefusal,
      );
      const created = await env.db.query('select 1 from clients where slug = $1', [slug]);
      return {
        answer:
          (r.ms === null
            ? `still accepted (${r.last}) after ${r.accepted} calls`
            : `refused: ${r.last}, after ${r.accepted} accepted calls`) +
          (created.rowCount ? '; the demoted admin created a client' : ''),
        ms: r.ms,
        detail: { acceptedAfterDemotion: r.accepted, clientCreated: Boolean(created.rowCount) },
      };
    },
  },
  {
    id: 'etag',
    sent: "`If-None-Match` with staff's ETag for the same query, as a CLIENT and anonymously",
    async setup(env) {
      const staff = await signIn(env.base, 'admin@postline.dev');
      const client = await signIn(env.base, 'client1@postline.dev');
      const q = '{posts(first:3){edges{node{id title}}}}';
      await drain(await gql(env.base, q, { token: staff }));
      const res = await gql(env.base, q, { token: staff });
      await drain(res);
      return { client, etag: res.headers.get('etag') ?? '', q };
    },
    async attack(env, s) {
      if (!s.etag) return { answer: 'no ETag sent to staff', ms: null };
      const started = performance.now();
      const client = await gql(env.base, s.q as string, {
        token: s.client,
        headers: { 'if-none-match': s.etag as string },
        signal: env.signal,
      });
      const ms = performance.now() - started;
      await drain(client);
      const anon = await gql(env.base, s.q as string, {
        headers: { 'if-none-match': s.etag as string },
      });
      await drain(anon);
      return { answer: `CLIENT ${client.status}, anonymous ${anon.status}`, ms };
    },
  },
  {
    id: 'host',
    sent: '`GET /health` with `Host: [::1`',
    async attack(env) {
      const started = performance.now();
      const text = await rawRequest(
        env.base,
        'GET /health HTTP/1.1\r\nHost: [::1\r\nConnection: close\r\n\r\n',
        env.signal,
      );
      const status = /^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? '?';
      return {
        answer: `${status}${STACK.test(text) ? ', stack trace with paths' : ', no stack trace'}`,
        ms: performance.now() - started,
      };
    },
  },
  {
    id: 'cors',
    sent: 'CORS preflight from `https://evil.example`',
    async attack(env) {
      const started = performance.now();
      const res = await fetch(`${env.base}/graphql`, {
        method: 'OPTIONS',
        headers: {
          origin: 'https://evil.example',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,authorization',
        },
        signal: env.signal,
      });
      await drain(res);
      const origin = res.headers.get('access-control-allow-origin');
      const credentials = res.headers.get('access-control-allow-credentials');
      return {
        answer: `${res.status}, Allow-Origin ${origin ?? 'none'}, Allow-Credentials ${credentials ?? 'none'}`,
        ms: performance.now() - started,
      };
    },
  },
  {
    id: 'profile',
    sent: '`x-postline-profile: 1` as CLIENT, one query repeated (statements per repeat)',
    async setup(env) {
      return { token: await signIn(env.base, 'client1@postline.dev') };
    },
    async attack(env, s) {
      const q = '{posts(first:2){edges{node{id}}}}';
      const send = async () =>
        answer(
          await gql(env.base, q, {
            token: s.token,
            headers: { 'x-postline-profile': '1' },
            signal: env.signal,
          }),
        );
      await send();
      const before = await statements(env.base);
      const started = performance.now();
      let profiled = false;
      for (let i = 0; i < 3; i++) profiled = (await send()).text.includes('"profile"') || profiled;
      const ms = (performance.now() - started) / 3;
      const after = await statements(env.base);
      const per = before === null || after === null ? null : (after - before) / 3;
      return {
        answer: `${fmt(per, 1)} statements per repeat${profiled ? ', profile returned' : ', no profile'}`,
        ms,
        detail: { statementsPerRepeat: per },
      };
    },
  },
  {
    id: 'login-throttle',
    sent: '30 wrong passwords in a row for one account',
    async setup(env) {
      const email = `${env.tag}-throttled@postline.dev`;
      await createUser(env.db, email, 'CLIENT');
      return { email };
    },
    async attack(env, s) {
      const started = performance.now();
      const codes: string[] = [];
      let firstThrottled: number | null = null;
      let retryAfter: unknown = null;
      for (let i = 1; i <= 30 && !env.signal.aborted; i++) {
        const res = await gql(
          env.base,
          'mutation($e: String!, $p: String!) { login(input: { email: $e, password: $p }) { token } }',
          { variables: { e: s.email, p: `wrong-${i}` }, signal: env.signal },
        );
        const text = await res.text();
        const json = JSON.parse(text) as { errors?: { extensions?: Record<string, unknown> }[] };
        const ext = json.errors?.[0]?.extensions ?? {};
        const code = String(ext.code ?? res.status);
        codes.push(code);
        if (firstThrottled === null && codes[0] !== code) {
          firstThrottled = i;
          retryAfter = ext.retryAfterSeconds ?? ext.retryAfter ?? res.headers.get('retry-after');
        }
      }
      const tally = new Map<string, number>();
      for (const c of codes) tally.set(c, (tally.get(c) ?? 0) + 1);
      const counts = [...tally].map(([c, n]) => `${n}× ${c}`).join(', ');
      return {
        answer:
          firstThrottled === null
            ? `never throttled (${counts})`
            : `throttled from attempt ${firstThrottled}${retryAfter != null ? ` (retry after ${retryAfter} s)` : ''}: ${counts}`,
        ms: performance.now() - started,
        detail: { codes, firstThrottled, retryAfter },
      };
    },
  },
  {
    id: 'durations',
    sent: '`/health`, `/ready`, `/metrics` 5× each, then HTTP duration sums per route',
    async attack(env) {
      const started = performance.now();
      for (let i = 0; i < 5; i++) {
        for (const p of ['/health', '/ready'])
          await drain(await fetch(`${env.base}${p}`, { signal: env.signal }));
        await scrapeText(env.base, env.signal);
      }
      const snap: Snapshot = parseMetrics((await scrapeText(env.base, env.signal)).text);
      const sums: Record<string, number> = {};
      for (const s of snap) {
        if (s.name !== 'postline_http_request_duration_seconds_sum') continue;
        const route = s.labels.route ?? '?';
        if (!['/health', '/ready', '/metrics'].includes(route)) continue;
        sums[route] = (sums[route] ?? 0) + s.value;
      }
      const negative = Object.entries(sums).filter(([, v]) => v < 0);
      const routes = Object.keys(sums).sort();
      return {
        answer: routes.length
          ? `${negative.length ? `negative sums for ${negative.map(([r]) => r).join(', ')}` : 'no negative sums'} (${routes.map((r) => `${r} ${fmt((sums[r] ?? 0) * 1000, 2)} ms`).join(', ')})`
          : 'no durations recorded for these routes',
        ms: performance.now() - started,
        detail: { sums },
      };
    },
  },
];

// ---------------------------------------------------------------------------------------------
// Running a row against one side

type Side = 'before' | 'after';

interface RowResult {
  row: string;
  side: Side;
  outcome: Outcome | null;
  timedOut: boolean;
  error: string | null;
  elapsedMs: number;
  /** The attack's time bound. */
  boundMs: number;
  typename: ProbeStats;
  ready: ProbeStats;
  rssMb: { start: number | null; peak: number | null };
  statements: number | null;
}

async function runRow(
  row: Row,
  side: Side,
  launch: ServerLaunch,
  common: {
    databaseUrl: string;
    jwtSecret: string;
    node: Awaited<ReturnType<typeof resolveNode>>;
    db: pg.Pool;
    tag: string;
  },
): Promise<RowResult> {
  const server = await startServer({
    databaseUrl: common.databaseUrl,
    jwtSecret: common.jwtSecret,
    node: common.node,
    launch,
    name: `Postline ${side}`,
    env: {
      RESPONSE_CACHE: 'memory',
      // No shared Redis: the throttle row would lock 127.0.0.1 out for every other user of it.
      REDIS_URL: '',
      WORKER_MODE: 'separate',
      LOG_LEVEL: 'fatal',
    },
  });
  let killed = false;
  try {
    await primeTypename(server.baseUrl, 300);
    const controller = new AbortController();
    const env: Env = {
      base: server.baseUrl,
      server,
      db: common.db,
      tag: `${common.tag}-${side}-${row.id}`,
      signal: controller.signal,
    };
    const state = row.setup ? await row.setup(env) : {};
    const statementsBefore = await statements(server.baseUrl);
    const rssStart = processRssMb(server.pid);
    let rssPeak = rssStart ?? 0;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, processRssMb(server.pid) ?? 0);
    }, 50);
    const typename = probeLoop(async (signal) => {
      const res = await gql(server.baseUrl, '{ __typename }', { signal });
      const text = await res.text();
      return res.ok && text.includes('Query');
    }, 20);
    const ready = probeLoop(async (signal) => {
      const res = await fetch(`${server.baseUrl}/ready`, { signal });
      await res.text();
      return res.ok;
    }, 50);
    const started = performance.now();
    const bound = row.boundMs ?? ATTACK_MS;
    const timer = setTimeout(() => controller.abort(new Error('timed out')), bound);
    let outcome: Outcome | null = null;
    let error: string | null = null;
    try {
      outcome = await row.attack(env, state);
    } catch (err) {
      if (!controller.signal.aborted) error = (err as Error).message.split('\n')[0] ?? String(err);
    } finally {
      clearTimeout(timer);
    }
    const elapsedMs = performance.now() - started;
    // An attack that ended with the time bound without an outcome hung; one that watched for
    // the whole window (revocation) returns its outcome with \`ms: null\`.
    const timedOut = controller.signal.aborted && outcome === null && error === null;
    const [typenameStats, readyStats] = await Promise.all([typename.stop(), ready.stop()]);
    clearInterval(sampler);
    rssPeak = Math.max(rssPeak, processRssMb(server.pid) ?? 0);
    const statementsAfter = await statements(server.baseUrl, timedOut ? 3000 : 15_000);
    if (timedOut) {
      // A server still busy with the attack would take its shutdown timeout to stop.
      process.kill(server.pid, 'SIGKILL');
      killed = true;
    }
    return {
      row: row.id,
      side,
      outcome,
      timedOut,
      error,
      elapsedMs,
      boundMs: bound,
      typename: typenameStats,
      ready: readyStats,
      rssMb: { start: rssStart, peak: rssPeak || null },
      statements:
        statementsBefore === null || statementsAfter === null
          ? null
          : statementsAfter - statementsBefore,
    };
  } finally {
    if (!killed) await server.stop();
    else await server.stop().catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------
// Report

const probeCell = (p: ProbeStats) =>
  p.n === 0
    ? 'none'
    : `${fmt(p.p50, 0)} / ${fmt(p.max, 0)} (${p.n})${p.failures ? `, **${p.failures} failed**` : ''}`;

function resultCells(r: RowResult | undefined): string[] {
  if (!r) return ['—', '—', '—', '—', '—', '—'];
  const answerText = r.timedOut
    ? `**timed out** after ${fmt(r.boundMs / 1000, 0)} s${r.outcome ? `: ${r.outcome.answer}` : ''}`
    : r.error
      ? `harness error: ${r.error}`
      : (r.outcome?.answer ?? '—');
  const ms =
    r.timedOut || (r.outcome && r.outcome.ms === null && r.elapsedMs >= r.boundMs)
      ? `> ${fmt(r.boundMs, 0)}`
      : fmt(r.outcome?.ms ?? null, 0);
  return [
    answerText + (r.outcome?.note ? ` (${r.outcome.note})` : ''),
    ms,
    probeCell(r.typename),
    probeCell(r.ready),
    `${fmt(r.rssMb.start, 0)} → ${fmt(r.rssMb.peak, 0)}`,
    r.statements === null ? 'n/a' : fmt(r.statements, 0),
  ];
}

interface HostileReport {
  label: string;
  command: string;
  date: string;
  machine: Machine;
  node: string;
  posts: number;
  database: string;
  attackTimeoutS: number;
  probeTimeoutMs: number;
  sides: Partial<Record<Side, { ref: string; sha: string; dirty: boolean; server: string }>>;
  rows: { id: string; sent: string }[];
  results: RowResult[];
  elapsedS: number;
}

function markdown(report: HostileReport): string {
  const m = report.machine;
  const sideText = (s: Side) => {
    const x = report.sides[s];
    if (!x) return '';
    return x.ref === 'working tree'
      ? `this checkout at \`${x.sha.slice(0, 10)}\`${x.dirty ? ' plus uncommitted changes' : ''}`
      : `\`${x.ref}\` = \`${x.sha.slice(0, 10)}\` (temporary worktree)`;
  };
  const out = [
    `## ${report.label}`,
    '',
    `- Command: \`${report.command}\``,
    `- Date: ${report.date} (whole run ${fmt(report.elapsedS, 0)} s)`,
    `- Machine: ${m.cpus} CPUs (\`nproc\`), ${m.cpuModel}, ${fmt(m.memoryGb, 1)} GB RAM${describeLoad(m)}; servers on Node ${report.node}, \`NODE_ENV=production\`, response cache in memory, one fresh server per row`,
    `- Data: ${report.posts.toLocaleString('en')} posts in \`${report.database}\``,
    ...(report.sides.before ? [`- **B** (before): ${sideText('before')}`] : []),
    `- **A** (after): ${sideText('after')}`,
    `- Each attack is cut off after ${report.attackTimeoutS} s ("timed out"; the /metrics flood of 4,000 requests after 120 s). Probes during the attack: \`{ __typename }\` every 20 ms and \`/ready\` (one pool connection, one statement) every 50 ms, each failing when not 200 within ${report.probeTimeoutMs / 1000} s; cells show p50 / max ms (probes sent). RSS from /proc (MB, at the start of the attack → peak). SQL statements: the server's \`${STATEMENTS}\` over the attack.`,
    '',
    '| What was sent | side | What the attacker got | Time ms | `{ __typename }` p50 / max ms | `/ready` p50 / max ms | RSS MB | SQL statements |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const row of report.rows) {
    const sides: Side[] = report.sides.before ? ['before', 'after'] : ['after'];
    for (const side of sides) {
      const r = report.results.find((x) => x.row === row.id && x.side === side);
      const first = side === sides[0];
      out.push(
        `| ${first ? row.sent : ''} | ${side === 'before' ? 'B' : 'A'} | ${resultCells(r).join(' | ')} |`,
      );
    }
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  installSignalHandlers();
  const date = new Date().toISOString();
  const loadStart = loadAverage();
  const posts = Number(opts.posts);
  const node = await resolveNode(opts.node ?? null, log);
  if (node.note) log(`Note: ${node.note}`);
  const only = opts.rows ? new Set(opts.rows.split(',')) : null;
  const rows = ROWS.filter((r) => !only || only.has(r.id));
  if (!rows.length)
    throw new Error(`--rows: none of ${opts.rows} (known: ${ROWS.map((r) => r.id).join(', ')})`);

  const trees: Partial<Record<Side, Tree>> = { after: await currentTree(root) };
  const launches: Partial<Record<Side, ServerLaunch>> = {
    after: await prepareLaunch(root, { build: false, log }),
  };
  if (opts.ref) {
    trees.before = await checkoutRef(root, opts.ref, log);
    launches.before = await prepareLaunch(trees.before.dir, { build: true, log });
  }
  const database = await prepareDatabase({ posts, log });
  const db = new pg.Pool({ connectionString: database.url, max: 2 });
  onCleanup('harness pool', () => db.end(), { last: true });
  const tag = `hostile-${randomBytes(3).toString('hex')}`;
  // Users and clients this run creates are removed at the end, on errors and on Ctrl-C.
  onCleanup(
    'rows created by the run',
    async () => {
      await db.query('delete from users where email like $1', [`${tag}-%`]);
      await db.query('delete from clients where slug like $1', [`${tag}-%`]);
    },
    { last: true },
  );
  const jwtSecret = newJwtSecret();
  const results: RowResult[] = [];
  const sides: Side[] = opts.ref ? ['before', 'after'] : ['after'];
  for (const row of rows) {
    for (const side of sides) {
      log(`${row.id} (${side}): ${row.sent}`);
      const r = await runRow(row, side, launches[side] as ServerLaunch, {
        databaseUrl: database.url,
        jwtSecret,
        node,
        db,
        tag,
      });
      results.push(r);
      const [answerText, ms, tp, rp, rss, sql] = resultCells(r);
      log(`  ${answerText}; ${ms} ms; __typename ${tp}; /ready ${rp}; RSS ${rss} MB; SQL ${sql}`);
    }
  }

  const sideInfo = (s: Side) => {
    const t = trees[s] as Tree;
    return {
      ref: t.ref,
      sha: t.sha,
      dirty: t.dirty,
      server: describeLaunch(launches[s] as ServerLaunch),
    };
  };
  const report: HostileReport = {
    label: opts.label as string,
    command: `npm run bench:hostile${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    date,
    machine: { ...machine(), load: { start: loadStart, end: loadAverage() } },
    node: `${node.version} (${node.source})`,
    posts,
    database: database.name,
    attackTimeoutS: ATTACK_MS / 1000,
    probeTimeoutMs: PROBE_TIMEOUT_MS,
    sides: { after: sideInfo('after'), ...(opts.ref ? { before: sideInfo('before') } : {}) },
    rows: rows.map((r) => ({ id: r.id, sent: r.sent })),
    results,
    elapsedS: (performance.now() - t0) / 1000,
  };
  const section = markdown(report);
  const dir = path.join(root, 'bench/results');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `hostile-${date.replace(/[:.]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`\n${section}\n\n`);
  if (!opts['no-markdown']) {
    await writeMarkdown(path.join(root, 'BENCHMARKS.md'), report.label, section);
    log(`Wrote BENCHMARKS.md (section "${report.label}") and ${path.relative(root, file)}`);
  } else {
    log(`Wrote ${path.relative(root, file)}`);
  }
}

try {
  await main();
} catch (err) {
  process.stderr.write(`bench:hostile: ${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
} finally {
  await cleanupAll();
}
