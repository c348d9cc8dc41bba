/**
 * Hostile requests (issue #12) against a production-mode server on a real HTTP port: uploads
 * refused before their body is read, bounded bodies, no cross-scope ETag oracle, no stack
 * traces, production defaults (introspection, suggestions, CORS, CSRF, headers, /metrics,
 * the profile header) and metric labels that clients cannot multiply.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MAX_OPERATION_LABELS } from '../src/observability/metrics.ts';
import { ADMIN, CLIENT1, EDITOR } from './fixtures.ts';
import { createTestApp, TEST_SECRET, useTestApp } from './harness.ts';
import { listen } from './http.ts';
import { baselineMs, expectResponsive } from './latency.ts';

const PROD = { NODE_ENV: 'production', JWT_SECRET: TEST_SECRET, LOG_LEVEL: 'silent' };
const UPLOAD_LIMIT = 1024 * 1024;
const t = await useTestApp({
  ...PROD,
  RESPONSE_CACHE: 'memory',
  UPLOAD_MAX_BYTES: String(UPLOAD_LIMIT),
  METRICS_TOKEN: 'metrics-token-0123456789',
});
const http = await listen(t);
const GQL = `${http.origin}/graphql`;

/** Sends raw bytes and returns the raw response text (what any client would see). */
function raw(request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(http.port, '127.0.0.1', () => socket.end(request));
    let out = '';
    socket.on('data', (d) => (out += d));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
  });
}

/** A streamed multipart upload of `size` bytes generated on the fly (no client-side buffer). */
function multipartUpload(size: number, opts: { length?: boolean } = {}) {
  const boundary = 'postline-boundary-4711';
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n` +
      `${JSON.stringify({ query: 'mutation($f: Upload!) { uploadAsset(file: $f, postId: "x") { asset { id } } }', variables: { f: null } })}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="map"\r\n\r\n{"0":["variables.f"]}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="0"; filename="big.png"\r\nContent-Type: image/png\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const chunk = Buffer.alloc(64 * 1024, 7);
  let sent = 0;
  const progress = { sent: () => sent };
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
  const headers: Record<string, string> = {
    'content-type': `multipart/form-data; boundary=${boundary}`,
    'apollo-require-preflight': 'true',
  };
  if (opts.length !== false) {
    headers['content-length'] = String(head.length + size + tail.length);
  }
  return { body: Readable.toWeb(body) as ReadableStream, headers, progress };
}

/** Runs test/clients/<script> in its own Node process; resolves with its stdout. */
function runClient(script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [path.join(import.meta.dirname, 'clients', script), ...args],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${script} exited ${code}`)),
    );
  });
}

async function post(body: unknown, headers: Record<string, string> = {}) {
  return fetch(GQL, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

const typename = async () => {
  const res = await post({ query: '{ __typename }' });
  expect(res.status).toBe(200);
};

/** Times `{ __typename }` while `work` runs: the server must keep answering others. */
async function typenameLatencyDuring(work: Promise<unknown>): Promise<number> {
  await new Promise((r) => setTimeout(r, 50));
  const started = performance.now();
  await typename();
  const elapsed = performance.now() - started;
  await work;
  return elapsed;
}

describe('uploads and bodies', () => {
  it('refuses 5 concurrent anonymous 20 MB uploads before reading them: 401, flat memory', async () => {
    const baseline = await baselineMs(typename);
    const before = process.memoryUsage().rss;
    // The uploads come from another process, as they would from the network.
    const flood = runClient('upload-flood.mjs', [GQL, '5', String(20 * 1024 * 1024)]);
    const latency = await typenameLatencyDuring(flood);
    const results = JSON.parse(await flood) as {
      status: number;
      code: string;
      sentBeforeAnswer: number;
    }[];
    for (const r of results) {
      // The server answers 401 and closes the connection: a client still sending may see
      // the reset before the answer. Never anything else, and never the whole body read.
      if (r.status === 0) expect(r.code).toMatch(/ECONNRESET|EPIPE|UND_ERR_SOCKET/);
      else expect([r.status, r.code]).toEqual([401, 'UNAUTHENTICATED']);
      expect(r.sentBeforeAnswer).toBeLessThan(8 * 1024 * 1024);
    }
    // Small anonymous uploads read the typed refusal (their bodies are drained, not cut off,
    // so a client still writing never sees a broken pipe instead of the answer).
    const small = JSON.parse(await runClient('upload-flood.mjs', [GQL, '20', '1000']));
    expect(small).toEqual(
      Array.from({ length: 20 }, () => ({
        status: 401,
        code: 'UNAUTHENTICATED',
        sentBeforeAnswer: 1000,
      })),
    );
    expectResponsive(latency, baseline);
    expect(process.memoryUsage().rss - before).toBeLessThan(50 * 1024 * 1024);
  });

  it('refuses an upload from a CLIENT user (403) before reading it', async () => {
    const { body, headers } = multipartUpload(20 * 1024 * 1024);
    const res = await fetch(GQL, {
      method: 'POST',
      headers: { ...headers, authorization: `Bearer ${await t.tokenFor(CLIENT1)}` },
      body,
      duplex: 'half',
    } as never);
    expect(res.status).toBe(403);
    expect((await res.json()).errors[0].extensions.code).toBe('FORBIDDEN');
  });

  it('cuts off a staff upload over the limit: by Content-Length at once, chunked at the limit', async () => {
    const token = await t.tokenFor(EDITOR);
    const before = process.memoryUsage().rss;
    for (const length of [true, false]) {
      const { body, headers } = multipartUpload(20 * 1024 * 1024, { length });
      const res = await fetch(GQL, {
        method: 'POST',
        headers: { ...headers, authorization: `Bearer ${token}` },
        body,
        duplex: 'half',
      } as never).catch((err: Error) => err);
      // The server may close the connection while the client is still sending: either way
      // the client sees the refusal or a closed connection, never a 200.
      if (res instanceof Error) continue;
      expect(res.status).toBe(413);
      const json = await res.json();
      expect(json.errors[0].extensions.code).toBe('REQUEST_ENTITY_TOO_LARGE');
      expect(json.errors[0].extensions.limit).toBe(UPLOAD_LIMIT + 64 * 1024);
    }
    expect(process.memoryUsage().rss - before).toBeLessThan(50 * 1024 * 1024);
  });

  it('limits JSON bodies (MAX_REQUEST_BODY_BYTES, 1 MiB by default)', async () => {
    const res = await post({ query: '{ __typename }', variables: { pad: 'x'.repeat(2_000_000) } });
    expect(res.status).toBe(413);
    expect((await res.json()).errors[0].extensions).toMatchObject({
      code: 'REQUEST_ENTITY_TOO_LARGE',
      limit: 1024 * 1024,
    });
  });
});

describe('no oracles, no leaks', () => {
  it('never answers 304 for another visibility scope’s cache key', async () => {
    const q = '{ posts(first: 3) { edges { node { id title } } } }';
    const staff = { authorization: `Bearer ${await t.tokenFor(ADMIN)}` };
    const client = { authorization: `Bearer ${await t.tokenFor(CLIENT1)}` };
    await post({ query: q }, staff);
    const cached = await post({ query: q }, staff);
    const staffTag = cached.headers.get('etag');
    expect(staffTag).toBeTruthy();
    // The same scope revalidates with its own tag.
    const again = await post({ query: q }, { ...staff, 'if-none-match': staffTag as string });
    expect(again.status).toBe(304);
    // Another scope presenting the staff tag gets its own data, not a 304.
    const probe = await post({ query: q }, { ...client, 'if-none-match': staffTag as string });
    expect(probe.status).toBe(200);
    expect((await probe.json()).data.posts.edges.length).toBeGreaterThan(0);
    // And an anonymous caller never gets a 304 either.
    const anon = await post({ query: q }, { 'if-none-match': staffTag as string });
    expect(anon.status).not.toBe(304);
  });

  it('answers malformed Host headers and request targets with 400 JSON, no stack trace', async () => {
    for (const request of [
      'GET /health HTTP/1.1\r\nHost: [::1\r\nConnection: close\r\n\r\n',
      'POST /graphql HTTP/1.1\r\nHost: a b\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}',
      'GET /graphql HTTP/1.1\r\nHost: localhost:99999999\r\nConnection: close\r\n\r\n',
      'GET http://[x/graphql HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
      'GET //%zz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
    ]) {
      const response = await raw(request);
      expect(response).toMatch(/^HTTP\/1\.1 (400|404|405)/);
      expect(response).not.toMatch(/ at |node_modules|\/src\/|\.ts:|Error:/);
    }
  });

  it('does not echo the JSON parser’s error in production', async () => {
    const res = await fetch(GQL, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"query": "{ __typename }",,}',
    });
    // 200 for `application/json` clients, as the GraphQL-over-HTTP spec has it for that type.
    expect([200, 400]).toContain(res.status);
    const json = await res.json();
    expect(json.errors[0].extensions.code).toBe('BAD_REQUEST');
    expect(json.errors[0].extensions.originalError).toBeUndefined();
    expect(JSON.stringify(json)).not.toMatch(/position|Unexpected token|SyntaxError/);
  });
});

describe('production defaults', () => {
  it('turns off introspection and “Did you mean” suggestions', async () => {
    const intro = await (await post({ query: '{ __schema { types { name } } }' })).json();
    expect(intro.data ?? null).toBeNull();
    expect(intro.errors[0].message).toMatch(/introspection/i);
    const typo = await (
      await post(
        { query: '{ post(first: 1) { edges { node { id } } } }' },
        {
          authorization: `Bearer ${await t.tokenFor(ADMIN)}`,
        },
      )
    ).json();
    expect(typo.errors[0].message).not.toMatch(/Did you mean/);
  });

  it('sends no CORS headers unless CORS_ORIGINS allows the origin; never reflects others', async () => {
    const preflight = (origin: string, url = GQL) =>
      fetch(url, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,authorization',
        },
      });
    const evil = await preflight('https://evil.example');
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    expect(evil.headers.get('access-control-allow-credentials')).toBeNull();

    const allowed = await createTestApp({
      ...PROD,
      CORS_ORIGINS: 'https://app.example.com, https://admin.example.com',
    });
    try {
      const server = await listen(allowed);
      const ok = await preflight('https://app.example.com', `${server.origin}/graphql`);
      expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
      expect(ok.headers.get('access-control-allow-credentials')).toBe('true');
      const other = await preflight('https://evil.example', `${server.origin}/graphql`);
      expect(other.headers.get('access-control-allow-origin')).not.toBe('https://evil.example');
      await server.close();
    } finally {
      await allowed.close();
    }
  });

  it('refuses simple (non-preflighted) requests without a CSRF header', async () => {
    const form = await fetch(GQL, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'query=%7B__typename%7D',
    });
    expect(form.status).toBe(403);
    const get = await fetch(`${GQL}?query=${encodeURIComponent('{ __typename }')}`);
    expect(get.status).toBe(403);
    const withHeader = await fetch(`${GQL}?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { 'x-graphql-yoga-csrf': '1' },
    });
    expect(withHeader.status).toBe(200);
    const token = await t.tokenFor(EDITOR);
    const { body, headers } = multipartUpload(10);
    delete headers['apollo-require-preflight'];
    const multipart = await fetch(GQL, {
      method: 'POST',
      headers: { ...headers, authorization: `Bearer ${token}` },
      body,
      duplex: 'half',
    } as never);
    expect(multipart.status).toBe(403);
  });

  it('sends security headers on every response', async () => {
    for (const path of ['/graphql?query=%7B__typename%7D', '/health', '/ready', '/nowhere']) {
      const res = await fetch(`${http.origin}${path}`, {
        headers: { 'x-graphql-yoga-csrf': '1' },
      });
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    }
  });

  it('guards /metrics with METRICS_TOKEN in production', async () => {
    expect((await fetch(`${http.origin}/metrics`)).status).toBe(403);
    const wrong = await fetch(`${http.origin}/metrics`, {
      headers: { authorization: 'Bearer metrics-token-wrong-789' },
    });
    expect(wrong.status).toBe(403);
    const ok = await fetch(`${http.origin}/metrics`, {
      headers: { authorization: 'Bearer metrics-token-0123456789' },
    });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('postline_http_request_duration_seconds');
  });

  it('honours the profile header for ADMIN only: a CLIENT cannot bypass the cache', async () => {
    const q = '{ posts(first: 2) { edges { node { id } } } }';
    await t.gql(q, {}, { as: CLIENT1, headers: { 'x-postline-profile': '1' } });
    const repeat = await t.gql(q, {}, { as: CLIENT1, headers: { 'x-postline-profile': '1' } });
    expect(repeat.errors).toBeUndefined();
    expect(t.lastStatements()).toEqual([]);
    expect(repeat.extensions?.profile).toBeUndefined();
    const admin = await t.gql(q, {}, { as: ADMIN, headers: { 'x-postline-profile': '1' } });
    expect(t.lastStatements().length).toBeGreaterThan(0);
    expect(admin.extensions?.profile).toBeDefined();
  });
});

describe('bounded metrics', () => {
  it('keeps /metrics small after 2,000 made-up routes and 2,000 operation names', async () => {
    const metrics = async () =>
      (
        await fetch(`${http.origin}/metrics`, {
          headers: { authorization: 'Bearer metrics-token-0123456789' },
        })
      ).text();
    const before = (await metrics()).length;
    for (let i = 0; i < 2000; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, j) =>
          Promise.all([
            fetch(`${http.origin}/x-${i + j}`),
            post({ query: `query Op${i + j} { __typename }` }),
          ]),
        ),
      );
    }
    const text = await metrics();
    expect(text.length - before).toBeLessThan(250_000);
    const operations = new Set([...text.matchAll(/operation="([^"]*)"/g)].map((m) => m[1]));
    expect(operations.size).toBeLessThanOrEqual(MAX_OPERATION_LABELS + 2);
    const routes = new Set([...text.matchAll(/route="([^"]*)"/g)].map((m) => m[1]));
    for (const route of routes)
      expect(['/graphql', '/health', '/ready', '/metrics', 'other']).toContain(route);
    expect(text).toMatch(/route="other"/);
    expect(text).toMatch(/operation="other"/);
    expect(text).not.toMatch(/x-1999|Op1999/);
  }, 180_000);

  it('records HTTP durations that are never negative, /health, /ready and /metrics included', async () => {
    for (const path of ['/health', '/ready']) await fetch(`${http.origin}${path}`);
    const text = await (
      await fetch(`${http.origin}/metrics`, {
        headers: { authorization: 'Bearer metrics-token-0123456789' },
      })
    ).text();
    const sums = [...text.matchAll(/postline_http_request_duration_seconds_sum\{([^}]*)\} (\S+)/g)];
    expect(sums.some(([, labels]) => labels?.includes('route="/health"'))).toBe(true);
    for (const [, , value] of sums) expect(Number(value)).toBeGreaterThanOrEqual(0);
  });
});
