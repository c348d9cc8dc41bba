/**
 * Revocable tokens: deleting, deactivating or demoting a user, or `logout`, refuses their
 * tokens within seconds on every instance — two apps on one database, each with its own
 * in-memory response cache, with the default AUTH_RECHECK_MS — including requests that the
 * response cache would have answered. Also the ADMIN-only user management that makes those
 * changes reachable through the API, and its rules.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onStatement } from '../src/db/query-log.ts';
import { expectError, ok } from './expect-error.ts';
import { ADMIN, EDITOR, MANAGER, PASSWORD } from './fixtures.ts';
import { cloneTemplate, createTestApp, type GqlResult, gid, type TestApp } from './harness.ts';
import { eventually } from './wait.ts';

/** The brief's bound: a revoked token is refused within this, on every instance. */
const REVOKED_WITHIN_MS = 5000;

let a: TestApp;
let b: TestApp;

beforeAll(async () => {
  const url = await cloneTemplate('revoke');
  a = await createTestApp({ RESPONSE_CACHE: 'memory' }, { url });
  b = await createTestApp({ RESPONSE_CACHE: 'memory' }, { url });
});
afterAll(async () => {
  await a?.close();
  await b?.close();
});

const FEED = '{ posts(first: 3) { edges { node { id title } } } }';
const LOGIN = `mutation($e: String!, $p: String!) {
  login(input: { email: $e, password: $p }) { token viewer { id role } }
}`;
const CREATE_CLIENT = `mutation($i: CreateClientInput!) { createClient(input: $i) { client { id } } }`;
const UPDATE_USER = `mutation($i: UpdateUserInput!) {
  updateUser(input: $i) { user { id role active client { id } } }
}`;
const DELETE_USER = 'mutation($id: ID!) { deleteUser(input: { id: $id }) { deletedUserId } }';

/** A new user with the demo password; returns its id and e-mail. */
async function newUser(role: string, clientId: number | null = null) {
  const email = `u-${randomUUID().slice(0, 8)}@postline.dev`;
  const [row] = await a.sql(
    `INSERT INTO users (email, name, password_hash, role, client_id, updated_at)
     SELECT $1, 'Temp User', password_hash, $2::"Role", $3, now() FROM users WHERE email = $4
     RETURNING id`,
    [email, role, clientId, ADMIN],
  );
  return { id: row.id as number, email, gid: gid('User', row.id) };
}

async function login(t: TestApp, email: string): Promise<string> {
  const { login } = ok(await t.gql(LOGIN, { e: email, p: PASSWORD }));
  return login.token as string;
}

function refused(res: GqlResult): boolean {
  return (
    res.status === 401 &&
    res.data == null &&
    res.errors?.[0]?.extensions?.code === 'UNAUTHENTICATED'
  );
}

/** Reads the feed with `token` on both instances (filling each one's cache for staff). */
async function readsOnBoth(token: string) {
  for (const t of [a, b]) {
    const res = await t.gql(FEED, {}, { token });
    expect(res.status).toBe(200);
    expect(ok(res).posts.edges).toHaveLength(3);
  }
}

/**
 * Waits until `token` is refused on both instances; returns how long that took after `since`.
 * Then checks the refused request was a cache hit in waiting: the same query from a staff
 * member who was not revoked is answered from the cache on both instances.
 */
async function refusedEverywhere(token: string, since: number, query = FEED): Promise<number> {
  await eventually(
    async () => {
      const results = await Promise.all([a, b].map((t) => t.gql(query, {}, { token })));
      return results.every(refused);
    },
    { timeoutMs: REVOKED_WITHIN_MS, what: 'the token refused on both instances' },
  );
  const elapsed = performance.now() - since;
  if (query === FEED) {
    for (const t of [a, b]) {
      const hit = await t.gql(FEED, {}, { as: ADMIN });
      expect(hit.extensions?.responseCache?.hit, 'a cache hit was waiting').toBe(true);
      expect(t.lastStatements()).toEqual([]);
    }
  }
  return elapsed;
}

describe('revoked tokens', () => {
  it('a deleted user is refused within 5 s on both instances, cache hits included', async () => {
    const user = await newUser('EDITOR');
    const token = await login(a, user.email);
    await readsOnBoth(token);
    await readsOnBoth(token); // the second round is served from each instance's cache

    // Plain SQL: no instance is told; each finds out when it next reads the user's status.
    const started = performance.now();
    await a.sql('DELETE FROM users WHERE id = $1', [user.id]);
    const elapsed = await refusedEverywhere(token, started);
    expect(elapsed).toBeLessThan(REVOKED_WITHIN_MS);
  });

  it('deleteUser refuses the token at once where it ran', async () => {
    const user = await newUser('EDITOR');
    const token = await login(a, user.email);
    await readsOnBoth(token);
    const started = performance.now();
    const deleted = ok(await a.gql(DELETE_USER, { id: user.gid }, { as: ADMIN }));
    expect(deleted.deleteUser.deletedUserId).toBe(user.gid);
    expect(await a.sql('SELECT 1 FROM users WHERE id = $1', [user.id])).toEqual([]);
    expect(refused(await a.gql(FEED, {}, { token }))).toBe(true);
    await refusedEverywhere(token, started);
  });

  it('a deactivated user is refused everywhere and cannot sign in; reactivated, signs in again', async () => {
    const user = await newUser('EDITOR');
    const token = await login(b, user.email);
    await readsOnBoth(token);
    await readsOnBoth(token);

    const started = performance.now();
    const res = ok(await b.gql(UPDATE_USER, { i: { id: user.gid, active: false } }, { as: ADMIN }));
    expect(res.updateUser.user).toMatchObject({ id: user.gid, active: false });
    await refusedEverywhere(token, started);

    const again = await a.gql(LOGIN, { e: user.email, p: PASSWORD });
    expect(again.data).toBeNull();
    expect(expectError(again, 'UNAUTHENTICATED').message).toMatch(/deactivated/);

    ok(await a.gql(UPDATE_USER, { i: { id: user.gid, active: true } }, { as: ADMIN }));
    // Reactivation does not bring the old token back.
    expect(refused(await a.gql(FEED, {}, { token }))).toBe(true);
    const fresh = await login(a, user.email);
    await readsOnBoth(fresh);
  });

  it('an ADMIN demoted to CLIENT can no longer create clients with the old token, anywhere', async () => {
    const user = await newUser('ADMIN');
    const token = await login(a, user.email);
    const slug = () => `demoted-${randomUUID().slice(0, 8)}`;
    ok(
      await b.gql(CREATE_CLIENT, { i: { name: 'Before', slug: slug(), industry: 'X' } }, { token }),
    );
    await readsOnBoth(token);
    await readsOnBoth(token);
    const [client] = await a.sql('SELECT id FROM clients ORDER BY id LIMIT 1');

    const started = performance.now();
    const demoted = ok(
      await a.gql(
        UPDATE_USER,
        { i: { id: user.gid, role: 'CLIENT', clientId: gid('Client', client.id) } },
        { as: ADMIN },
      ),
    );
    expect(demoted.updateUser.user).toMatchObject({
      role: 'CLIENT',
      client: { id: gid('Client', client.id) },
    });
    await refusedEverywhere(token, started);

    const attempted = slug();
    for (const t of [a, b]) {
      const res = await t.gql(
        CREATE_CLIENT,
        { i: { name: 'After', slug: attempted, industry: 'X' } },
        { token },
      );
      expect(refused(res)).toBe(true);
    }
    expect(await a.sql('SELECT 1 FROM clients WHERE slug = $1', [attempted])).toEqual([]);

    // Signing in again gives a CLIENT token, which may not create clients.
    const clientToken = await login(b, user.email);
    const forbidden = await a.gql(
      CREATE_CLIENT,
      { i: { name: 'After', slug: attempted, industry: 'X' } },
      { token: clientToken },
    );
    expectError(forbidden, 'FORBIDDEN');
    expect(await a.sql('SELECT 1 FROM clients WHERE slug = $1', [attempted])).toEqual([]);
  });

  it('a role or password changed in plain SQL revokes too (trigger)', async () => {
    const user = await newUser('MANAGER');
    const token = await login(a, user.email);
    await readsOnBoth(token);
    const started = performance.now();
    await a.sql(`UPDATE users SET role = 'EDITOR' WHERE id = $1`, [user.id]);
    await refusedEverywhere(token, started, '{ viewer { id } }');

    const second = await login(b, user.email);
    await readsOnBoth(second);
    await a.sql(`UPDATE users SET password_hash = password_hash || '' WHERE id = $1`, [user.id]);
    // Unchanged value: no revocation.
    await readsOnBoth(second);
    await a.sql(
      `UPDATE users SET password_hash = (SELECT password_hash FROM users WHERE email = $2) || 'x'
       WHERE id = $1`,
      [user.id, EDITOR],
    );
    await refusedEverywhere(second, performance.now(), '{ viewer { id } }');
  });

  it('logout signs the caller out on every instance; signing in again works', async () => {
    const user = await newUser('EDITOR');
    const token = await login(a, user.email);
    await readsOnBoth(token);
    await readsOnBoth(token);

    const started = performance.now();
    const out = ok(await b.gql('mutation { logout { viewer { id } } }', {}, { token }));
    expect(out.logout.viewer.id).toBe(user.gid);
    // Where the logout ran: refused at once.
    expect(refused(await b.gql(FEED, {}, { token }))).toBe(true);
    await refusedEverywhere(token, started);

    const fresh = await login(a, user.email);
    expect(fresh).not.toBe(token);
    await readsOnBoth(fresh);

    const anonymous = await a.gql('mutation { logout { viewer { id } } }');
    expectError(anonymous, 'UNAUTHENTICATED');
  });

  it('reads each user’s status at most once per interval, not once per request', async () => {
    const user = await newUser('EDITOR');
    // Signed in on B: A has never seen this user, so A must read its status.
    const token = await login(b, user.email);
    const reads: string[] = [];
    const stop = onStatement((record) => {
      if (/token_version/.test(record.sql) && /FROM users/.test(record.sql)) reads.push(record.sql);
    });
    try {
      const started = performance.now();
      const results = await Promise.all(
        Array.from({ length: 50 }, () => a.gql(FEED, {}, { token })),
      );
      for (const r of results) expect(r.status).toBe(200);
      const intervals = Math.ceil((performance.now() - started) / 2000);
      expect(reads.length).toBeGreaterThanOrEqual(1);
      expect(reads.length).toBeLessThanOrEqual(intervals);
    } finally {
      stop();
    }
  });
});

describe('user management', () => {
  it('is for ADMINs only', async () => {
    const user = await newUser('EDITOR');
    for (const as of [MANAGER, EDITOR]) {
      expectError(
        await a.gql(UPDATE_USER, { i: { id: user.gid, active: false } }, { as }),
        'FORBIDDEN',
      );
      expectError(await a.gql(DELETE_USER, { id: user.gid }, { as }), 'FORBIDDEN');
    }
    expect((await a.sql('SELECT deactivated_at FROM users WHERE id = $1', [user.id]))[0]).toEqual({
      deactivated_at: null,
    });
  });

  it('validates role and client together, naming the field', async () => {
    const user = await newUser('EDITOR');
    const [client] = await a.sql('SELECT id FROM clients ORDER BY id LIMIT 1');
    const cases: [Record<string, unknown>, string, string][] = [
      [{ role: 'CLIENT' }, 'BAD_USER_INPUT', 'input.clientId'],
      [{ clientId: gid('Client', client.id) }, 'BAD_USER_INPUT', 'input.clientId'],
      [{ role: 'MANAGER', clientId: gid('Client', client.id) }, 'BAD_USER_INPUT', 'input.clientId'],
      [{ role: 'CLIENT', clientId: gid('Client', 999_999) }, 'NOT_FOUND', 'input.clientId'],
      [{ role: 'CLIENT', clientId: gid('Project', 1) }, 'BAD_USER_INPUT', 'input.clientId'],
    ];
    for (const [change, code, field] of cases) {
      const res = await a.gql(UPDATE_USER, { i: { id: user.gid, ...change } }, { as: ADMIN });
      expectError(res, code, field);
    }
    expectError(
      await a.gql(UPDATE_USER, { i: { id: gid('User', 999_999), active: false } }, { as: ADMIN }),
      'NOT_FOUND',
      'input.id',
    );
    expect(
      (await a.sql('SELECT role, client_id, token_version FROM users WHERE id = $1', [user.id]))[0],
    ).toEqual({ role: 'EDITOR', client_id: null, token_version: 0 });

    // A CLIENT made staff again leaves its client.
    const made = ok(
      await a.gql(
        UPDATE_USER,
        { i: { id: user.gid, role: 'CLIENT', clientId: gid('Client', client.id) } },
        { as: ADMIN },
      ),
    );
    expect(made.updateUser.user.client.id).toBe(gid('Client', client.id));
    const staff = ok(
      await a.gql(UPDATE_USER, { i: { id: user.gid, role: 'EDITOR' } }, { as: ADMIN }),
    );
    expect(staff.updateUser.user).toMatchObject({ role: 'EDITOR', client: null });
  });

  it('refuses to delete an author and says to deactivate; unassigns deliverables', async () => {
    const [author] = await a.sql(
      `SELECT p.author_id AS id FROM posts p JOIN users u ON u.id = p.author_id
       WHERE u.role <> 'ADMIN' ORDER BY p.id LIMIT 1`,
    );
    const res = await a.gql(DELETE_USER, { id: gid('User', author.id) }, { as: ADMIN });
    const err = expectError(res, 'BAD_USER_INPUT', 'input.id');
    expect(err.message).toMatch(/deactivate/);
    expect(await a.sql('SELECT 1 FROM users WHERE id = $1', [author.id])).toHaveLength(1);

    const assignee = await newUser('EDITOR');
    const [deliverable] = await a.sql(
      'UPDATE deliverables SET assignee_id = $1 WHERE id = (SELECT min(id) FROM deliverables) RETURNING id',
      [assignee.id],
    );
    ok(await a.gql(DELETE_USER, { id: assignee.gid }, { as: ADMIN }));
    expect(
      (await a.sql('SELECT assignee_id FROM deliverables WHERE id = $1', [deliverable.id]))[0],
    ).toEqual({ assignee_id: null });
  });
});

describe('the last active ADMIN', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t?.close());

  it('cannot be demoted, deactivated or deleted; two admins demoting each other: one wins', async () => {
    const other = `second-admin-${randomUUID().slice(0, 6)}@postline.dev`;
    await t.sql(
      `INSERT INTO users (email, name, password_hash, role, updated_at)
       SELECT $1, 'Second Admin', password_hash, 'ADMIN', now() FROM users WHERE email = $2`,
      [other, ADMIN],
    );
    // Every other admin steps down, so exactly two remain.
    await t.sql(
      `UPDATE users SET role = 'MANAGER' WHERE role = 'ADMIN' AND email NOT IN ($1, $2)`,
      [ADMIN, other],
    );
    const ids = Object.fromEntries(
      (await t.sql('SELECT email, id FROM users WHERE email IN ($1, $2)', [ADMIN, other])).map(
        (r) => [r.email, gid('User', r.id)],
      ),
    ) as Record<string, string>;
    const first = ids[ADMIN] as string;
    const second = ids[other] as string;

    await t.tokenFor(ADMIN);
    await t.tokenFor(other);
    const [x, y] = await Promise.all([
      t.gql(UPDATE_USER, { i: { id: second, role: 'MANAGER' } }, { as: ADMIN }),
      t.gql(UPDATE_USER, { i: { id: first, role: 'MANAGER' } }, { as: other }),
    ]);
    const failures = [x, y].filter((r) => r.errors);
    expect(failures).toHaveLength(1);
    // Refused as the last admin, or (had the other change committed before this request was
    // authenticated) as a revoked token: never both demoted.
    const failure = failures[0] as GqlResult;
    const code = failure.errors?.[0]?.extensions?.code;
    if (code === 'BAD_USER_INPUT') {
      const err = expectError(failure, 'BAD_USER_INPUT', 'input.role');
      expect(err.message).toMatch(/last active ADMIN/);
    } else {
      expect(code).toBe('UNAUTHENTICATED');
    }
    const admins = await t.sql(
      `SELECT email FROM users WHERE role = 'ADMIN' AND deactivated_at IS NULL`,
    );
    expect(admins).toHaveLength(1);

    // The one left cannot leave either (a fresh sign-in: the other change revoked nothing of its).
    const last = admins[0].email as string;
    const lastId = ids[last] as string;
    const { login } = ok(await t.gql(LOGIN, { e: last, p: PASSWORD }));
    const token = login.token as string;
    expectError(
      await t.gql(UPDATE_USER, { i: { id: lastId, role: 'EDITOR' } }, { token }),
      'BAD_USER_INPUT',
      'input.role',
    );
    expectError(
      await t.gql(UPDATE_USER, { i: { id: lastId, active: false } }, { token }),
      'BAD_USER_INPUT',
      'input.active',
    );
    expectError(await t.gql(DELETE_USER, { id: lastId }, { token }), 'BAD_USER_INPUT', 'input.id');
    expect(
      await t.sql(`SELECT 1 FROM users WHERE role = 'ADMIN' AND deactivated_at IS NULL`),
    ).toHaveLength(1);
  });
});
