/**
 * Sign-in throttling per account and per client address: a typed TOO_MANY_REQUESTS error
 * with the time to wait (HTTP 429, Retry-After), no password check while refused, counts
 * shared across instances through Redis, reset by a successful sign-in. Requests carry the
 * server context Node's HTTP server gives Yoga (`req.socket.remoteAddress`); one test runs a
 * real HTTP server.
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createHttpServer, nodeHandler } from '../src/http-server.ts';
import { ADMIN, EDITOR, PASSWORD } from './fixtures.ts';
import { cloneTemplate, createTestApp, type TestApp } from './harness.ts';
import { redisAnswers, redisUrl } from './http.ts';
import { eventually } from './wait.ts';

const apps: TestApp[] = [];
afterAll(async () => {
  for (const t of apps) await t.close();
});

async function app(env: Record<string, string> = {}, url?: string): Promise<TestApp> {
  const t = await createTestApp(env, url ? { url } : {});
  apps.push(t);
  return t;
}

interface Attempt {
  status: number;
  retryAfterHeader: string | null;
  token: string | null;
  error: { message: string; extensions: Record<string, unknown> } | null;
}

const LOGIN = `mutation($e: String!, $p: String!) {
  login(input: { email: $e, password: $p }) { token }
}`;

/** A sign-in sent as Node's HTTP server would hand it over: from `address`. */
async function attempt(
  t: TestApp,
  email: string,
  password: string,
  opts: { address?: string; headers?: Record<string, string> } = {},
): Promise<Attempt> {
  const res = await t.app.yoga.fetch(
    'http://postline.test/graphql',
    {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...opts.headers },
      body: JSON.stringify({ query: LOGIN, variables: { e: email, p: password } }),
    },
    { req: { socket: { remoteAddress: opts.address ?? '203.0.113.10' } } },
  );
  const body = (await res.json()) as {
    data?: { login?: { token?: string } } | null;
    errors?: Attempt['error'][];
  };
  return {
    status: res.status,
    retryAfterHeader: res.headers.get('retry-after'),
    token: body.data?.login?.token ?? null,
    error: body.errors?.[0] ?? null,
  };
}

const wrong = 'not-the-password';
const unique = (label: string) => `${label}-${randomUUID().slice(0, 8)}@postline.dev`;

function expectFailed(a: Attempt) {
  expect(a.status).toBe(200);
  expect(a.error?.extensions.code).toBe('UNAUTHENTICATED');
  expect(a.error?.message).toBe('Email or password is incorrect');
}

function expectThrottled(a: Attempt, windowS: number) {
  expect(a.status).toBe(429);
  expect(a.token).toBeNull();
  expect(a.error?.extensions.code).toBe('TOO_MANY_REQUESTS');
  const retryAfter = a.error?.extensions.retryAfter;
  expect(retryAfter).toEqual(expect.any(Number));
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(windowS);
  expect(a.retryAfterHeader).toBe(String(retryAfter));
  expect(a.error?.message).toBe(`Too many failed sign-ins; try again in ${retryAfter} seconds`);
  // Nothing internal in the extensions (the HTTP details are the response's, not the body's).
  expect(Object.keys(a.error?.extensions ?? {}).sort()).toEqual(['code', 'retryAfter']);
}

/** A user who can sign in with the demo password, for tests that lock accounts. */
async function newUser(t: TestApp): Promise<string> {
  const email = unique('throttle');
  await t.sql(
    `INSERT INTO users (email, name, password_hash, role, updated_at)
     SELECT $1, 'Throttled', password_hash, 'EDITOR', now() FROM users WHERE email = $2`,
    [email, EDITOR],
  );
  return email;
}

describe('per account (defaults: 5 failures in 15 minutes)', () => {
  it('refuses the 6th attempt, even with the right password, from any address, with the wait', async () => {
    const t = await app();
    const email = await newUser(t);
    for (let i = 0; i < 5; i++) {
      expectFailed(await attempt(t, email, wrong, { address: `198.51.100.${i + 1}` }));
    }
    const refused = await attempt(t, email, PASSWORD, { address: '198.51.100.99' });
    expectThrottled(refused, 900);
    expect(refused.error?.extensions.retryAfter).toBeGreaterThan(800);
    // Another account from the same addresses is unaffected.
    expect((await attempt(t, ADMIN, PASSWORD, { address: '198.51.100.1' })).token).toBeTruthy();
  });

  it('counts unknown e-mails the same way, with the same answers', async () => {
    const t = await app();
    const known = await newUser(t);
    const unknown = unique('nobody');
    const answers = { known: [] as Attempt[], unknown: [] as Attempt[] };
    for (let i = 0; i < 6; i++) {
      answers.known.push(await attempt(t, known, wrong));
      answers.unknown.push(await attempt(t, unknown, wrong, { address: '203.0.113.11' }));
    }
    for (const list of [answers.known, answers.unknown]) {
      for (const a of list.slice(0, 5)) expectFailed(a);
      expectThrottled(list[5] as Attempt, 900);
    }
    expect(answers.unknown[0]?.error).toEqual(answers.known[0]?.error);
    expect(answers.unknown[5]?.error?.message.replace(/\d+/, 'N')).toBe(
      answers.known[5]?.error?.message.replace(/\d+/, 'N'),
    );
  });

  it('a successful sign-in resets the account’s count', async () => {
    const t = await app();
    const email = await newUser(t);
    for (let i = 0; i < 4; i++) expectFailed(await attempt(t, email, wrong));
    expect((await attempt(t, email, PASSWORD)).token).toBeTruthy();
    for (let i = 0; i < 5; i++) expectFailed(await attempt(t, email, wrong));
    expectThrottled(await attempt(t, email, wrong), 900);
  });

  it('parallel attempts cannot slip under the limit: exactly 5 passwords are checked', async () => {
    const t = await app();
    const email = await newUser(t);
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => attempt(t, email, wrong, { address: `192.0.2.${i}` })),
    );
    const codes = results.map((r) => r.error?.extensions.code);
    expect(codes.filter((c) => c === 'UNAUTHENTICATED')).toHaveLength(5);
    expect(codes.filter((c) => c === 'TOO_MANY_REQUESTS')).toHaveLength(7);
  });

  it('allows attempts again when the window ends', async () => {
    const t = await app({ LOGIN_THROTTLE_WINDOW_S: '2', LOGIN_MAX_FAILURES_PER_ACCOUNT: '2' });
    const email = await newUser(t);
    expectFailed(await attempt(t, email, wrong));
    expectFailed(await attempt(t, email, wrong));
    expectThrottled(await attempt(t, email, PASSWORD), 2);
    await eventually(async () => (await attempt(t, email, PASSWORD)).token, {
      timeoutMs: 6000,
      intervalMs: 250,
      what: 'sign-in allowed after the window',
    });
  });
});

describe('per address (default: 20 failures in 15 minutes)', () => {
  it('refuses the 21st attempt from one address, whatever the e-mail; other addresses sign in', async () => {
    const t = await app();
    const address = '192.0.2.50';
    for (let i = 0; i < 20; i++) {
      // A new e-mail every 4 attempts: no account reaches its own limit.
      expectFailed(await attempt(t, unique(`spray${Math.floor(i / 4)}`), wrong, { address }));
    }
    expectThrottled(await attempt(t, ADMIN, PASSWORD, { address }), 900);
    expect((await attempt(t, ADMIN, PASSWORD, { address: '192.0.2.51' })).token).toBeTruthy();
  });

  it('successful sign-ins from a shared address do not count against it', async () => {
    const t = await app({ LOGIN_MAX_FAILURES_PER_ADDRESS: '3' });
    const address = '192.0.2.60';
    for (let i = 0; i < 10; i++) {
      expect((await attempt(t, ADMIN, PASSWORD, { address })).token).toBeTruthy();
    }
    for (let i = 0; i < 3; i++) expectFailed(await attempt(t, unique('x'), wrong, { address }));
    expectThrottled(await attempt(t, ADMIN, PASSWORD, { address }), 900);
  });

  it('limits an IPv6 client by its /64, and an IPv4-mapped address as IPv4', async () => {
    const t = await app({ LOGIN_MAX_FAILURES_PER_ADDRESS: '2' });
    expectFailed(await attempt(t, unique('v6'), wrong, { address: '2001:db8:1:2::1' }));
    expectFailed(await attempt(t, unique('v6'), wrong, { address: '2001:db8:1:2::ffff' }));
    expectThrottled(await attempt(t, ADMIN, PASSWORD, { address: '2001:db8:1:2:abcd::9' }), 900);
    expect((await attempt(t, ADMIN, PASSWORD, { address: '2001:db8:1:3::1' })).token).toBeTruthy();

    expectFailed(await attempt(t, unique('v4'), wrong, { address: '::ffff:192.0.2.70' }));
    expectFailed(await attempt(t, unique('v4'), wrong, { address: '192.0.2.70' }));
    expectThrottled(await attempt(t, ADMIN, PASSWORD, { address: '::ffff:192.0.2.70' }), 900);
  });

  it('ignores X-Forwarded-For unless TRUST_PROXY says how many proxies to believe', async () => {
    const direct = await app({ LOGIN_MAX_FAILURES_PER_ADDRESS: '3' });
    for (let i = 0; i < 3; i++) {
      expectFailed(
        await attempt(direct, unique('xff'), wrong, {
          address: '10.1.1.1',
          headers: { 'x-forwarded-for': `198.18.0.${i}` },
        }),
      );
    }
    expectThrottled(
      await attempt(direct, ADMIN, PASSWORD, {
        address: '10.1.1.1',
        headers: { 'x-forwarded-for': '198.18.0.200' },
      }),
      900,
    );

    // One trusted proxy at 10.2.2.2: the client is the last entry; entries to its left are
    // the client's own claims and change nothing.
    const proxied = await app({ LOGIN_MAX_FAILURES_PER_ADDRESS: '3', TRUST_PROXY: '1' });
    for (let i = 0; i < 3; i++) {
      expectFailed(
        await attempt(proxied, unique('xff'), wrong, {
          address: '10.2.2.2',
          headers: { 'x-forwarded-for': `198.18.1.${i}, 198.51.100.77` },
        }),
      );
    }
    expectThrottled(
      await attempt(proxied, ADMIN, PASSWORD, {
        address: '10.2.2.2',
        headers: { 'x-forwarded-for': '198.51.100.77' },
      }),
      900,
    );
    const other = await attempt(proxied, ADMIN, PASSWORD, {
      address: '10.2.2.2',
      headers: { 'x-forwarded-for': '198.51.100.78' },
    });
    expect(other.token).toBeTruthy();
  });
});

describe('over real HTTP', () => {
  let server: Server | undefined;
  afterAll(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

  it('limits by the socket’s address and answers 429 with Retry-After', async () => {
    const t = await app({ LOGIN_MAX_FAILURES_PER_ADDRESS: '2' });
    // The server `npm start` runs.
    server = createHttpServer(nodeHandler(t.app));
    await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const post = (email: string, password: string) =>
      fetch(`http://127.0.0.1:${port}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': randomUUID() },
        body: JSON.stringify({ query: LOGIN, variables: { e: email, p: password } }),
      });
    for (let i = 0; i < 2; i++) expect((await post(unique('http'), wrong)).status).toBe(200);
    const res = await post(ADMIN, PASSWORD);
    expect(res.status).toBe(429);
    const retryAfter = Number(res.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(800);
    const body = (await res.json()) as { errors: { extensions: Record<string, unknown> }[] };
    expect(body.errors[0]?.extensions).toEqual({ code: 'TOO_MANY_REQUESTS', retryAfter });
  });
});

const redisUp = await redisAnswers('the Redis login-throttle tests');

describe.skipIf(!redisUp)('two instances sharing Redis', () => {
  const prefix = `postline-test:login:${randomUUID()}:`;
  afterAll(async () => {
    const r = new Redis(redisUrl);
    try {
      const keys = await r.keys(`${prefix}*`);
      if (keys.length) await r.del(...keys);
    } finally {
      r.disconnect();
    }
  });

  it('counts failures on either instance together, with TTLs; success resets everywhere', async () => {
    const url = await cloneTemplate('throttle');
    const env = { REDIS_URL: redisUrl, LOGIN_THROTTLE_REDIS_PREFIX: prefix };
    const a = await app(env, url);
    const b = await app(env, url);
    const email = await newUser(a);
    // Account: 5 failures alternating between the instances, from different addresses.
    for (let i = 0; i < 5; i++) {
      expectFailed(await attempt(i % 2 ? a : b, email, wrong, { address: `198.51.100.${i}` }));
    }
    expectThrottled(await attempt(a, email, PASSWORD, { address: '198.51.100.50' }), 900);
    expectThrottled(await attempt(b, email, PASSWORD, { address: '198.51.100.51' }), 900);

    // Address: 20 failures split across the instances.
    const address = '192.0.2.80';
    for (let i = 0; i < 20; i++) {
      expectFailed(
        await attempt(i % 2 ? a : b, unique(`r${Math.floor(i / 4)}`), wrong, { address }),
      );
    }
    expectThrottled(await attempt(a, ADMIN, PASSWORD, { address }), 900);
    expectThrottled(await attempt(b, ADMIN, PASSWORD, { address }), 900);

    const r = new Redis(redisUrl);
    try {
      const keys = await r.keys(`${prefix}*`);
      expect(keys.length).toBeGreaterThan(0);
      for (const k of keys) {
        expect(await r.pttl(k)).toBeGreaterThan(0);
        expect(k).not.toContain('@'); // e-mails are not stored in plain text
      }
    } finally {
      r.disconnect();
    }

    // Reset: 4 failures on A, a success on B, then 5 more failures are allowed again.
    const other = await newUser(a);
    for (let i = 0; i < 4; i++) expectFailed(await attempt(a, other, wrong));
    expect((await attempt(b, other, PASSWORD)).token).toBeTruthy();
    for (let i = 0; i < 5; i++) expectFailed(await attempt(i % 2 ? a : b, other, wrong));
    expectThrottled(await attempt(a, other, wrong), 900);
  });
  it('parallel attempts on both instances: exactly 5 passwords checked (atomic in Redis)', async () => {
    const url = await cloneTemplate('throttle-par');
    const env = { REDIS_URL: redisUrl, LOGIN_THROTTLE_REDIS_PREFIX: prefix };
    const a = await app(env, url);
    const b = await app(env, url);
    const email = await newUser(a);
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        attempt(i % 2 ? a : b, email, wrong, { address: `192.0.2.${100 + i}` }),
      ),
    );
    const codes = results.map((r) => r.error?.extensions.code);
    expect(codes.filter((c) => c === 'UNAUTHENTICATED')).toHaveLength(5);
    expect(codes.filter((c) => c === 'TOO_MANY_REQUESTS')).toHaveLength(7);
  });
});

describe('without Redis', () => {
  it('keeps counting in the process when Redis cannot be reached', async () => {
    const t = await app({
      REDIS_URL: 'redis://127.0.0.1:1',
      LOGIN_MAX_FAILURES_PER_ACCOUNT: '2',
    });
    const email = await newUser(t);
    expectFailed(await attempt(t, email, wrong));
    expectFailed(await attempt(t, email, wrong));
    expectThrottled(await attempt(t, email, PASSWORD), 900);
  });
});
