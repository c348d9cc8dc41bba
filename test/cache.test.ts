/**
 * Response cache: hits skip resolvers and SQL, writes refresh every affected list, count and
 * dashboard, callers never see another client's data, and instances share invalidation.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { ADMIN, CLIENT1, CLIENT2, EDITOR } from './fixtures.ts';
import {
  cloneTemplate,
  createTestApp,
  gid,
  TEST_SECRET,
  type TestApp,
  useTestApp,
} from './harness.ts';
import { redisAnswers, redisUrl } from './http.ts';
import { eventually } from './wait.ts';

const t = await useTestApp({ RESPONSE_CACHE: 'memory' });

const FEED = `query Feed($status: [PostStatus!], $projectId: ID) {
  posts(first: 10, filter: { status: $status, projectId: $projectId }) {
    totalCount
    edges { node { id title status project { id name } } }
  }
}`;

async function someProject(client = 1): Promise<{ id: number; clientId: number }> {
  const [row] = await t.sql(
    `SELECT p.id, p.client_id AS "clientId" FROM projects p
     JOIN clients c ON c.id = p.client_id
     WHERE c.slug LIKE '%-' || $1 AND p.status <> 'ARCHIVED' ORDER BY p.id LIMIT 1`,
    [String(client)],
  );
  return row;
}

describe('response cache', () => {
  it('serves a repeated query without running SQL', async () => {
    const first = await t.gql(FEED, { status: ['DRAFT'] }, { as: ADMIN });
    expect(first.errors).toBeUndefined();
    expect(t.lastStatements().length).toBeGreaterThan(0);
    expect(first.extensions?.responseCache).toMatchObject({ hit: false, didCache: true });

    const second = await t.gql(FEED, { status: ['DRAFT'] }, { as: ADMIN });
    expect(t.lastStatements()).toEqual([]);
    expect(second.extensions?.responseCache).toMatchObject({ hit: true });
    expect(second.data).toEqual(first.data);
  });

  it('shares entries between callers with the same visibility (all staff)', async () => {
    await t.gql(FEED, { status: ['APPROVED'] }, { as: ADMIN });
    const editor = await t.gql(FEED, { status: ['APPROVED'] }, { as: EDITOR });
    expect(editor.errors).toBeUndefined();
    expect(t.lastStatements()).toEqual([]);
  });

  it('shows cache metadata to admins only', async () => {
    await t.gql(FEED, { status: ['PUBLISHED'] }, { as: ADMIN });
    const editor = await t.gql(FEED, { status: ['PUBLISHED'] }, { as: EDITOR });
    expect(editor.extensions?.responseCache).toBeUndefined();
  });

  it('after createPost the list query returns the new post', async () => {
    const project = await someProject();
    const vars = { status: ['DRAFT'], projectId: gid('Project', project.id) };
    const before = await t.gql(FEED, vars, { as: ADMIN });
    await t.gql(FEED, vars, { as: ADMIN });
    expect(t.lastStatements()).toEqual([]); // cached

    const created = await t.gql(
      `mutation($p: ID!) { createPost(input: { projectId: $p, title: "Fresh from the oven", body: "b", platform: BLOG }) { post { id } } }`,
      { p: gid('Project', project.id) },
      { as: EDITOR },
    );
    expect(created.errors).toBeUndefined();
    const after = await t.gql(FEED, vars, { as: ADMIN });
    expect(t.lastStatements().length).toBeGreaterThan(0);
    expect(after.data?.posts.totalCount).toBe(before.data?.posts.totalCount + 1);
    expect(after.data?.posts.edges[0].node.title).toBe('Fresh from the oven');
    // The agency-wide unfiltered list and the dashboard refresh too.
  });

  it('a status change moves the post between cached filtered lists', async () => {
    const project = await someProject();
    const p = gid('Project', project.id);
    const created = await t.gql(
      `mutation($p: ID!) { createPost(input: { projectId: $p, title: "Review me", body: "b", platform: X }) { post { id } } }`,
      { p },
      { as: EDITOR },
    );
    const id = created.data?.createPost.post.id;
    const drafts = await t.gql(FEED, { status: ['DRAFT'], projectId: p }, { as: ADMIN });
    const inReview = await t.gql(FEED, { status: ['IN_REVIEW'], projectId: p }, { as: ADMIN });
    const ids = (r: typeof drafts) =>
      r.data?.posts.edges.map((e: { node: { id: string } }) => e.node.id);
    expect(ids(drafts)).toContain(id);
    expect(ids(inReview)).not.toContain(id);

    await t.gql(
      `mutation($id: ID!) { updatePost(input: { id: $id, status: IN_REVIEW }) { post { id status } } }`,
      { id },
      { as: EDITOR },
    );

    expect(
      ids(await t.gql(FEED, { status: ['DRAFT'], projectId: p }, { as: ADMIN })),
    ).not.toContain(id);
    expect(
      ids(await t.gql(FEED, { status: ['IN_REVIEW'], projectId: p }, { as: ADMIN })),
    ).toContain(id);
  });

  it('moving a post refreshes both projects’ nested lists and counts', async () => {
    const [a, b] = await t.sql(
      `SELECT id FROM projects WHERE client_id = (SELECT client_id FROM projects ORDER BY id LIMIT 1)
       AND status <> 'ARCHIVED' ORDER BY id LIMIT 2`,
    );
    const nested = `query($a: ID!, $b: ID!) {
      a: node(id: $a) { ... on Project { posts(first: 100) { totalCount edges { node { id } } } } }
      b: node(id: $b) { ... on Project { posts(first: 100) { totalCount edges { node { id } } } } }
    }`;
    const vars = { a: gid('Project', a.id), b: gid('Project', b.id) };
    const created = await t.gql(
      `mutation($p: ID!) { createPost(input: { projectId: $p, title: "Mover", body: "b", platform: X }) { post { id } } }`,
      { p: vars.a },
      { as: EDITOR },
    );
    const id = created.data?.createPost.post.id;
    const before = await t.gql(nested, vars, { as: ADMIN });
    await t.gql(nested, vars, { as: ADMIN });
    expect(t.lastStatements()).toEqual([]);

    const moved = await t.gql(
      `mutation($id: ID!, $p: ID!) { updatePost(input: { id: $id, projectId: $p }) { post { id } } }`,
      { id, p: vars.b },
      { as: EDITOR },
    );
    expect(moved.errors).toBeUndefined();
    const after = await t.gql(nested, vars, { as: ADMIN });
    expect(after.data?.a.posts.totalCount).toBe(before.data?.a.posts.totalCount - 1);
    expect(after.data?.b.posts.totalCount).toBe(before.data?.b.posts.totalCount + 1);
    expect(after.data?.b.posts.edges.map((e: { node: { id: string } }) => e.node.id)).toContain(id);
  });

  it('delete removes the post from cached lists and counts; dashboardStats refreshes', async () => {
    const project = await someProject(2);
    const dash = `query($c: ID) { dashboardStats(clientId: $c) { postsByStatus { status count } } }`;
    const c = gid('Client', project.clientId);
    const drafts = (r: { data: any }) =>
      r.data?.dashboardStats.postsByStatus.find((x: { status: string }) => x.status === 'DRAFT')
        ?.count ?? 0;
    const created = await t.gql(
      `mutation($p: ID!) { createPost(input: { projectId: $p, title: "Short-lived", body: "b", platform: X }) { post { id } } }`,
      { p: gid('Project', project.id) },
      { as: EDITOR },
    );
    const id = created.data?.createPost.post.id;
    const vars = { status: ['DRAFT'], projectId: gid('Project', project.id) };
    const listBefore = await t.gql(FEED, vars, { as: ADMIN });
    const dashBefore = await t.gql(dash, { c }, { as: ADMIN });
    await t.gql(dash, { c }, { as: ADMIN });
    expect(t.lastStatements()).toEqual([]);

    await t.gql(
      `mutation($id: ID!) { deletePost(input: { id: $id }) { deletedPostId } }`,
      { id },
      { as: EDITOR },
    );

    const listAfter = await t.gql(FEED, vars, { as: ADMIN });
    expect(listAfter.data?.posts.totalCount).toBe(listBefore.data?.posts.totalCount - 1);
    expect(
      listAfter.data?.posts.edges.map((e: { node: { id: string } }) => e.node.id),
    ).not.toContain(id);
    expect(drafts(await t.gql(dash, { c }, { as: ADMIN }))).toBe(drafts(dashBefore) - 1);
  });

  it('a title edit keeps lists in other orders cached, refreshes title order and searches', async () => {
    const project = await someProject(4);
    const p = gid('Project', project.id);
    const byOrder = `query($p: ID!, $field: PostOrderField!) {
      posts(first: 3, filter: { projectId: $p }, orderBy: { field: $field, direction: ASC }) {
        edges { node { id title } }
      }
    }`;
    const search = `query($p: ID!, $q: String!) { posts(first: 5, filter: { projectId: $p, search: $q }) { totalCount } }`;
    // A post outside the first page of CREATED_AT ASC (the newest one).
    const created = await t.gql(
      `mutation($p: ID!) { createPost(input: { projectId: $p, title: "zzz last by title", body: "b", platform: X }) { post { id } } }`,
      { p },
      { as: EDITOR },
    );
    const id = created.data?.createPost.post.id;
    const oldest = await t.gql(byOrder, { p, field: 'CREATED_AT' }, { as: ADMIN });
    const titles = await t.gql(byOrder, { p, field: 'TITLE' }, { as: ADMIN });
    const found = await t.gql(search, { p, q: 'aardvark' }, { as: ADMIN });
    expect(found.data?.posts.totalCount).toBe(0);
    await t.gql(byOrder, { p, field: 'CREATED_AT' }, { as: ADMIN });
    expect(t.lastStatements()).toEqual([]);

    const edited = await t.gql(
      `mutation($id: ID!) { updatePost(input: { id: $id, title: "Aardvark first by title" }) { post { id } } }`,
      { id },
      { as: EDITOR },
    );
    expect(edited.errors).toBeUndefined();
    // Oldest-first page does not contain the post and its order did not change: still cached.
    const oldestAfter = await t.gql(byOrder, { p, field: 'CREATED_AT' }, { as: ADMIN });
    expect(t.lastStatements()).toEqual([]);
    expect(oldestAfter.data).toEqual(oldest.data);
    // The title order and the search see the edit.
    const titlesAfter = await t.gql(byOrder, { p, field: 'TITLE' }, { as: ADMIN });
    expect(titlesAfter.data?.posts.edges[0].node).toEqual({ id, title: 'Aardvark first by title' });
    expect(titlesAfter.data).not.toEqual(titles.data);
    expect((await t.gql(search, { p, q: 'aardvark' }, { as: ADMIN })).data?.posts.totalCount).toBe(
      1,
    );
  });

  it('updating a project refreshes posts that show its name', async () => {
    const project = await someProject(3);
    const vars = { projectId: gid('Project', project.id) };
    await t.gql(FEED, vars, { as: ADMIN });
    await t.gql(
      `mutation($id: ID!) { updateProject(input: { id: $id, name: "Renamed project" }) { project { id } } }`,
      { id: vars.projectId },
      { as: ADMIN },
    );
    const after = await t.gql(FEED, vars, { as: ADMIN });
    expect(after.data?.posts.edges[0].node.project.name).toBe('Renamed project');
  });

  it('two clients asking the same query never see each other’s data', async () => {
    const q = `{ posts(first: 50) { edges { node { client { id } } } } clients(first: 10) { edges { node { id } } } }`;
    const [c1] = await t.sql(`SELECT client_id AS id FROM users WHERE email = $1`, [CLIENT1]);
    const [c2] = await t.sql(`SELECT client_id AS id FROM users WHERE email = $1`, [CLIENT2]);
    for (let round = 0; round < 2; round++) {
      const one = await t.gql(q, {}, { as: CLIENT1 });
      const two = await t.gql(q, {}, { as: CLIENT2 });
      const clientsOf = (r: typeof one) =>
        new Set(
          r.data?.posts.edges.map((e: { node: { client: { id: string } } }) => e.node.client.id),
        );
      expect([...clientsOf(one)]).toEqual([gid('Client', c1.id)]);
      expect([...clientsOf(two)]).toEqual([gid('Client', c2.id)]);
      expect(two.data?.clients.edges).toEqual([{ node: { id: gid('Client', c2.id) } }]);
    }
  });

  it('a token with a forged signature gets an error, never a cached entry', async () => {
    const q = '{ posts(first: 3) { edges { node { id title } } } }';
    const good = await t.gql(q, {}, { as: ADMIN });
    expect(good.data?.posts.edges).toHaveLength(3);
    const token = await t.tokenFor(ADMIN);
    const [header, payload] = token.split('.');
    const forged = `${header}.${payload}.${Buffer.from('not-the-signature').toString('base64url')}`;
    const res = await t.gql(q, {}, { token: forged });
    expect(res.status).toBe(401);
    expect(res.data ?? null).toBeNull();
    expect(res.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('responses with errors are not cached', async () => {
    const q = '{ posts(first: 101) { edges { node { id } } } }';
    const a = await t.gql(q, {}, { as: ADMIN });
    expect(a.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const b = await t.gql(q, {}, { as: ADMIN });
    expect(b.extensions?.responseCache?.hit).not.toBe(true);
  });

  it('viewer is never shared between users who share a cache scope', async () => {
    // ADMIN and EDITOR are both in the staff scope: a cached viewer would leak across them.
    const q = '{ viewer { email } }';
    expect((await t.gql(q, {}, { as: ADMIN })).data?.viewer.email).toBe(ADMIN);
    expect((await t.gql(q, {}, { as: ADMIN })).data?.viewer.email).toBe(ADMIN);
    expect((await t.gql(q, {}, { as: EDITOR })).data?.viewer.email).toBe(EDITOR);
  });

  it('answers If-None-Match with 304 for a cached response', async () => {
    const token = await t.tokenFor(ADMIN);
    const body = JSON.stringify({ query: '{ clients(first: 2) { edges { node { name } } } }' });
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
    const first = await t.app.yoga.fetch('http://postline.test/graphql', {
      method: 'POST',
      headers,
      body,
    });
    const etag = first.headers.get('etag');
    expect(first.status).toBe(200);
    expect(etag).toBeTruthy();
    const second = await t.app.yoga.fetch('http://postline.test/graphql', {
      method: 'POST',
      headers: { ...headers, 'if-none-match': etag as string },
      body,
    });
    expect(second.status).toBe(304);
    expect(await second.text()).toBe('');
  });

  it('shows statistics in systemStatus to admins only', async () => {
    const q =
      '{ systemStatus { cache { mode hits misses hitRate entries bytes invalidations byOperation { operation hits misses } } } }';
    const admin = await t.gql(q, {}, { as: ADMIN });
    expect(admin.errors).toBeUndefined();
    const cache = admin.data?.systemStatus.cache;
    expect(cache.mode).toBe('memory');
    expect(cache.hits).toBeGreaterThan(0);
    expect(cache.hitRate).toBeGreaterThan(0);
    expect(cache.entries).toBeGreaterThan(0);
    expect(cache.byOperation).toContainEqual(expect.objectContaining({ operation: 'Feed' }));
    const editor = await t.gql(q, {}, { as: EDITOR });
    expect(editor.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(editor.data).toBeNull();
  });

  it('reports hits and misses on /metrics', async () => {
    const res = await t.app.yoga.fetch('http://postline.test/metrics');
    const text = await res.text();
    expect(text).toMatch(
      /postline_response_cache_requests_total\{operation="Feed",result="hit"\} [1-9]/,
    );
    expect(text).toMatch(/postline_response_cache_invalidations_total\{type="Post"\} [1-9]/);
    expect(text).toMatch(/postline_response_cache_entries [1-9]/);
  });
});

describe('response cache expiry', () => {
  it('expires an entry after its TTL', async () => {
    const short = await createTestApp({
      RESPONSE_CACHE: 'memory',
      CACHE_TTL_S: '1',
      CACHE_TTL_POST_S: '1',
      CACHE_TTL_PROJECT_S: '1',
      CACHE_TTL_CLIENT_S: '1',
    });
    try {
      const q = '{ posts(first: 2) { edges { node { id project { name client { name } } } } } }';
      await short.gql(q, {}, { as: ADMIN });
      await short.gql(q, {}, { as: ADMIN });
      expect(short.lastStatements()).toEqual([]);
      await new Promise((r) => setTimeout(r, 1200));
      await short.gql(q, {}, { as: ADMIN });
      expect(short.lastStatements().length).toBeGreaterThan(0);
    } finally {
      await short.close();
    }
  });
});

describe('response cache admission (CACHE_ADMIT_AFTER_MISSES, default 2)', () => {
  it('stores a response on its second miss, so a query asked once costs no entry', async () => {
    const picky = await createTestApp({
      RESPONSE_CACHE: 'memory',
      CACHE_ADMIT_AFTER_MISSES: '', // the default
      CACHE_MAX_ENTRIES: '3',
    });
    try {
      const q = `query Admit($id: ID!) { node(id: $id) { id ... on Post { title } } }`;
      const [a, b, c, d, ...others] = await picky.sql<{ id: number }>(
        'SELECT id FROM posts ORDER BY id LIMIT 10',
      );
      const vars = (row: { id: number } | undefined) => ({ id: gid('Post', row?.id ?? 0) });
      const stats = async () =>
        (await picky.gql('{ systemStatus { cache { entries misses hits } } }', {}, { as: ADMIN }))
          .data?.systemStatus.cache;

      // First miss: answered, not stored.
      const first = await picky.gql(q, vars(a), { as: ADMIN });
      expect(first.errors).toBeUndefined();
      expect(first.extensions?.responseCache).toMatchObject({ hit: false, didCache: false });
      expect(await stats()).toMatchObject({ entries: 0 });
      // Second miss of the same key: stored; the third request is a hit without SQL.
      const second = await picky.gql(q, vars(a), { as: ADMIN });
      expect(second.extensions?.responseCache).toMatchObject({ hit: false, didCache: true });
      expect(await stats()).toMatchObject({ entries: 1 });
      const third = await picky.gql(q, vars(a), { as: ADMIN });
      expect(picky.lastStatements()).toEqual([]);
      expect(third.extensions?.responseCache).toMatchObject({ hit: true });
      expect(third.data).toEqual(first.data);

      // Misses further apart than CACHE_MAX_ENTRIES (3) other missed keys start counting again.
      await picky.gql(q, vars(b), { as: ADMIN });
      for (const other of [c, d]) await picky.gql(q, vars(other), { as: ADMIN });
      for (const other of [c, d]) await picky.gql(q, vars(other), { as: ADMIN }); // c, d stored
      for (const other of others) await picky.gql(q, vars(other), { as: ADMIN });
      const again = await picky.gql(q, vars(b), { as: ADMIN });
      expect(picky.lastStatements().length).toBeGreaterThan(0);
      expect(again.extensions?.responseCache).toMatchObject({ hit: false, didCache: false });
      const stored = await picky.gql(q, vars(b), { as: ADMIN });
      expect(stored.extensions?.responseCache).toMatchObject({ hit: false, didCache: true });
      expect((await picky.gql(q, vars(b), { as: ADMIN })).extensions?.responseCache).toMatchObject({
        hit: true,
      });

      const text = await (await picky.app.yoga.fetch('http://postline.test/metrics')).text();
      expect(text).toMatch(/postline_response_cache_not_admitted_total [1-9]/);
    } finally {
      await picky.close();
    }
  });
});

const redisUp = await redisAnswers('the Redis cache tests');

describe('invalidation across processes sharing one database', () => {
  it('in-memory stores: a write on one instance clears the other through NOTIFY', async () => {
    const url = await cloneTemplate('shared');
    const a = await createTestApp({ RESPONSE_CACHE: 'memory' }, { url });
    const b = await createTestApp({ RESPONSE_CACHE: 'memory' }, { url });
    try {
      const [post] = await a.sql('SELECT id FROM posts ORDER BY id LIMIT 1');
      const q = `query($id: ID!) { node(id: $id) { ... on Post { title } } }`;
      const id = gid('Post', post.id);
      await b.gql(q, { id }, { as: ADMIN });
      await b.gql(q, { id }, { as: ADMIN });
      expect(b.lastStatements()).toEqual([]);
      await a.gql(
        `mutation($id: ID!) { updatePost(input: { id: $id, title: "Changed on A" }) { post { id } } }`,
        { id },
        { as: ADMIN },
      );
      // NOTIFY reaches B within milliseconds; poll with a deadline rather than a fixed sleep.
      await eventually(
        async () => (await b.gql(q, { id }, { as: ADMIN })).data?.node.title === 'Changed on A',
        { intervalMs: 25, what: 'B reading the title written on A' },
      );
    } finally {
      await a.close();
      await b.close();
    }
  });

  describe.skipIf(!redisUp)('two instances on one Redis', () => {
    const prefix = `postline-test:${randomUUID()}:`;
    let a: TestApp;
    let b: TestApp;
    afterAll(async () => {
      await a?.app.cache?.store.clear();
      await a?.close();
      await b?.close();
    });

    it('a mutation on the first, then the same query on the second returns fresh data', async () => {
      const url = await cloneTemplate('redis');
      const env = { RESPONSE_CACHE: 'redis', REDIS_URL: redisUrl, CACHE_REDIS_PREFIX: prefix };
      a = await createTestApp(env, { url });
      b = await createTestApp(env, { url });
      const [post] = await a.sql('SELECT id, project_id FROM posts ORDER BY id LIMIT 1');
      const q = `query($p: ID!) { posts(first: 5, filter: { projectId: $p }) { totalCount edges { node { id title } } } }`;
      const vars = { p: gid('Project', post.project_id) };
      // A fills the shared cache; B is served from it without SQL.
      const first = await a.gql(q, vars, { as: ADMIN });
      await b.gql(q, vars, { as: ADMIN });
      expect(b.lastStatements()).toEqual([]);

      const created = await a.gql(
        `mutation($p: ID!) { createPost(input: { projectId: $p, title: "Seen everywhere", body: "b", platform: X }) { post { id } } }`,
        vars,
        { as: EDITOR },
      );
      expect(created.errors).toBeUndefined();
      const onB = await b.gql(q, vars, { as: ADMIN });
      expect(onB.data?.posts.totalCount).toBe(first.data?.posts.totalCount + 1);
      expect(onB.data?.posts.edges.map((e: { node: { title: string } }) => e.node.title)).toContain(
        'Seen everywhere',
      );
    });

    it('keeps no index set without an expiry', async () => {
      const r = new Redis(redisUrl);
      try {
        const keys = await r.keys(`${prefix}t:*`);
        expect(keys.length).toBeGreaterThan(0);
        for (const k of keys) expect(await r.pttl(k)).toBeGreaterThan(0);
      } finally {
        r.disconnect();
      }
    });
  });
});

void TEST_SECRET;
