/**
 * Sign-in, tokens and each role's permissions, through the whole Yoga pipeline.
 * Every "may not" case also checks in SQL that nothing was written.
 */
import { SignJWT } from 'jose';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { expectError, expectNoLeak, ok } from './expect-error.ts';
import { ADMIN, CLIENT1, CLIENT2, EDITOR, MANAGER, PASSWORD } from './fixtures.ts';
import { createTestApp, gid, rawId, TEST_SECRET, useTestApp } from './harness.ts';

const t = await useTestApp();

const LOGIN = `mutation($e: String!, $p: String!) {
  login(input: { email: $e, password: $p }) { token expiresIn viewer { id email role name } }
}`;

/** Ids of the two clients the demo CLIENT users belong to. */
let own: number;
let other: number;

beforeAll(async () => {
  const rows = await t.sql<{ email: string; client_id: number }>(
    'SELECT email, client_id FROM users WHERE email = ANY($1) ORDER BY email',
    [[CLIENT1, CLIENT2]],
  );
  own = rows.find((r) => r.email === CLIENT1)?.client_id as number;
  other = rows.find((r) => r.email === CLIENT2)?.client_id as number;
  expect(own).toBeGreaterThan(0);
  expect(other).not.toBe(own);
});

describe('login', () => {
  it('returns a token and the viewer; the token signs later requests in', async () => {
    const res = await t.gql(LOGIN, { e: ADMIN, p: PASSWORD });
    const { login } = ok(res);
    expect(login.token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(login.expiresIn).toBeGreaterThan(0);
    expect(login.viewer).toMatchObject({ email: ADMIN, role: 'ADMIN' });
    const me = ok(await t.gql('{ viewer { id email role } }', {}, { token: login.token }));
    expect(me.viewer).toEqual(login.viewer && { id: login.viewer.id, email: ADMIN, role: 'ADMIN' });
  });

  it('treats the email case-insensitively and ignores surrounding spaces', async () => {
    for (const e of ['ADMIN@POSTLINE.DEV', '  Admin@Postline.Dev ']) {
      const { login } = ok(await t.gql(LOGIN, { e, p: PASSWORD }));
      expect(login.viewer.email).toBe(ADMIN);
    }
  });

  it('refuses a wrong password and an unknown email alike, without detail', async () => {
    const wrong = await t.gql(LOGIN, { e: ADMIN, p: 'postline-demo!' });
    const unknown = await t.gql(LOGIN, { e: 'nobody@postline.dev', p: PASSWORD });
    const empty = await t.gql(LOGIN, { e: ADMIN, p: '' });
    const caseOfPassword = await t.gql(LOGIN, { e: ADMIN, p: PASSWORD.toUpperCase() });
    for (const res of [wrong, unknown, empty, caseOfPassword]) {
      expect(res.data).toBeNull();
      const err = expectError(res, 'UNAUTHENTICATED');
      expect(err.message).toBe('Email or password is incorrect');
      expectNoLeak(res);
    }
    // Same answer either way: nothing tells an attacker which emails exist.
    expect(unknown.errors).toEqual(wrong.errors);
  });
});

describe('tokens', () => {
  const key = (s: string) => new TextEncoder().encode(s);
  const sign = (claims: Record<string, unknown>) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuer('postline');

  it('refuses forged, expired, malformed and unsigned tokens with HTTP 401 and no data', async () => {
    const adminId = (await t.sql('SELECT id FROM users WHERE email = $1', [ADMIN]))[0].id;
    const claims = { role: 'ADMIN', cid: null };
    const forged = await sign(claims)
      .setSubject(String(adminId))
      .setExpirationTime('1h')
      .sign(key('another-secret-that-is-at-least-32-characters'));
    const expired = await sign(claims)
      .setSubject(String(adminId))
      .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
      .sign(key(TEST_SECRET));
    const wrongIssuer = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('someone-else')
      .setSubject(String(adminId))
      .setExpirationTime('1h')
      .sign(key(TEST_SECRET));
    const badRole = await sign({ role: 'SUPERUSER', cid: null })
      .setSubject(String(adminId))
      .setExpirationTime('1h')
      .sign(key(TEST_SECRET));
    const header = Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url');
    const body = Buffer.from(
      JSON.stringify({ sub: String(adminId), role: 'ADMIN', iss: 'postline', exp: 2e9 }),
    ).toString('base64url');
    const unsigned = `${header}.${body}.`;
    const valid = await t.tokenFor(ADMIN);
    const tampered = `${valid.slice(0, -4)}${valid.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;

    const cases: Record<string, string> = {
      forged: `Bearer ${forged}`,
      expired: `Bearer ${expired}`,
      wrongIssuer: `Bearer ${wrongIssuer}`,
      badRole: `Bearer ${badRole}`,
      unsigned: `Bearer ${unsigned}`,
      tampered: `Bearer ${tampered}`,
      garbage: 'Bearer not-a-token',
      emptyBearer: 'Bearer ',
      basic: `Basic ${Buffer.from(`${ADMIN}:${PASSWORD}`).toString('base64')}`,
    };
    for (const [name, authorization] of Object.entries(cases)) {
      const res = await t.gql(
        '{ posts(first: 1) { edges { node { id title } } } }',
        {},
        {
          headers: { authorization },
        },
      );
      expect(res.status, name).toBe(401);
      expect(res.data ?? null, name).toBeNull();
      expectError(res, 'UNAUTHENTICATED');
      expectNoLeak(res);
    }
  });
});

describe('without a token', () => {
  it('answers __typename and a null viewer', async () => {
    expect(ok(await t.gql('{ __typename viewer { id } }'))).toEqual({
      __typename: 'Query',
      viewer: null,
    });
  });

  it('refuses every data field and every mutation with UNAUTHENTICATED', async () => {
    const post = gid('Post', 1);
    const project = gid('Project', 1);
    const client = gid('Client', 1);
    const deliverable = gid('Deliverable', 1);
    const before = await t.sql(
      'SELECT (SELECT count(*) FROM posts) p, (SELECT count(*) FROM clients) c, (SELECT max(updated_at) FROM posts) u',
    );
    const operations = [
      '{ posts(first: 1) { edges { node { id } } } }',
      '{ projects(first: 1) { edges { node { id } } } }',
      '{ clients(first: 1) { edges { node { id } } } }',
      '{ deliverables(first: 1) { edges { node { id } } } }',
      `{ node(id: "${post}") { id } }`,
      `{ nodes(ids: ["${post}", "${client}"]) { id } }`,
      '{ dashboardStats { overdueDeliverables } }',
      `{ dashboardStats(clientId: "${client}") { overdueDeliverables } }`,
      'mutation { createClient(input: { name: "X", slug: "x-anon", industry: "Y" }) { client { id } } }',
      `mutation { updateClient(input: { id: "${client}", name: "X" }) { client { id } } }`,
      `mutation { archiveClient(input: { id: "${client}" }) { client { id } } }`,
      `mutation { createProject(input: { clientId: "${client}", name: "X" }) { project { id } } }`,
      `mutation { updateProject(input: { id: "${project}", name: "X" }) { project { id } } }`,
      `mutation { archiveProject(input: { id: "${project}" }) { project { id } } }`,
      `mutation { createPost(input: { projectId: "${project}", title: "T", body: "B", platform: X }) { post { id } } }`,
      `mutation { updatePost(input: { id: "${post}", title: "T" }) { post { id } } }`,
      `mutation { deletePost(input: { id: "${post}" }) { deletedPostId } }`,
      `mutation { createDeliverable(input: { projectId: "${project}", title: "T", kind: "K" }) { deliverable { id } } }`,
      `mutation { updateDeliverable(input: { id: "${deliverable}", title: "T" }) { deliverable { id } } }`,
      `mutation { deleteDeliverable(input: { id: "${deliverable}" }) { deletedDeliverableId } }`,
    ];
    for (const op of operations) {
      const res = await t.gql(op);
      // A nullable root field (node) answers null beside the error; nothing else comes back.
      for (const value of Object.values(res.data ?? {})) expect(value, op).toBeNull();
      expect(res.errors?.length, op).toBe(1);
      expectError(res, 'UNAUTHENTICATED');
    }
    const after = await t.sql(
      'SELECT (SELECT count(*) FROM posts) p, (SELECT count(*) FROM clients) c, (SELECT max(updated_at) FROM posts) u',
    );
    expect(after).toEqual(before);
  });
});

// ---- roles ------------------------------------------------------------------------------

async function anyId(table: string, where = 'TRUE', params: unknown[] = []): Promise<number> {
  const rows = await t.sql(`SELECT id FROM ${table} WHERE ${where} ORDER BY id LIMIT 1`, params);
  if (!rows[0]) throw new Error(`no ${table} row where ${where}`);
  return rows[0].id as number;
}

/** Creates and changes one of everything; returns the ids it made. */
async function writeEverything(as: string, tag: string) {
  const c = ok(
    await t.gql(
      'mutation($i: CreateClientInput!) { createClient(input: $i) { client { id name } } }',
      { i: { name: `Client ${tag}`, slug: `client-${tag}`, industry: 'Retail' } },
      { as },
    ),
  ).createClient.client;
  ok(
    await t.gql(
      'mutation($i: UpdateClientInput!) { updateClient(input: $i) { client { id } } }',
      { i: { id: c.id, name: `Client ${tag} renamed` } },
      { as },
    ),
  );
  const p = ok(
    await t.gql(
      'mutation($i: CreateProjectInput!) { createProject(input: $i) { project { id } } }',
      { i: { clientId: c.id, name: `Project ${tag}`, budgetCents: 1000 } },
      { as },
    ),
  ).createProject.project;
  ok(
    await t.gql(
      'mutation($i: UpdateProjectInput!) { updateProject(input: $i) { project { id status } } }',
      { i: { id: p.id, status: 'ACTIVE' } },
      { as },
    ),
  );
  const post = ok(
    await t.gql(
      'mutation($i: CreatePostInput!) { createPost(input: $i) { post { id status } } }',
      { i: { projectId: p.id, title: `Post ${tag}`, body: 'Body', platform: 'BLOG' } },
      { as },
    ),
  ).createPost.post;
  ok(
    await t.gql(
      'mutation($i: UpdatePostInput!) { updatePost(input: $i) { post { id } } }',
      { i: { id: post.id, status: 'IN_REVIEW' } },
      { as },
    ),
  );
  const d = ok(
    await t.gql(
      'mutation($i: CreateDeliverableInput!) { createDeliverable(input: $i) { deliverable { id } } }',
      { i: { projectId: p.id, title: `Deliverable ${tag}`, kind: 'Photo set' } },
      { as },
    ),
  ).createDeliverable.deliverable;
  ok(
    await t.gql(
      'mutation($i: UpdateDeliverableInput!) { updateDeliverable(input: $i) { deliverable { id } } }',
      { i: { id: d.id, status: 'IN_PROGRESS' } },
      { as },
    ),
  );
  ok(
    await t.gql(
      'mutation($id: ID!) { deleteDeliverable(input: { id: $id }) { deletedDeliverableId } }',
      { id: d.id },
      { as },
    ),
  );
  ok(
    await t.gql(
      'mutation($id: ID!) { deletePost(input: { id: $id }) { deletedPostId } }',
      {
        id: post.id,
      },
      { as },
    ),
  );
  ok(
    await t.gql(
      'mutation($id: ID!) { archiveProject(input: { id: $id }) { project { status } } }',
      { id: p.id },
      { as },
    ),
  );
  ok(
    await t.gql(
      'mutation($id: ID!) { archiveClient(input: { id: $id }) { client { status } } }',
      { id: c.id },
      { as },
    ),
  );
  return {
    client: rawId(c.id),
    project: rawId(p.id),
    post: rawId(post.id),
    deliverable: rawId(d.id),
  };
}

describe('ADMIN and MANAGER', () => {
  it.each([ADMIN, MANAGER])('%s writes everything', async (as) => {
    const tag = as.split('@')[0] as string;
    const ids = await writeEverything(as, tag);
    const [row] = await t.sql(
      `SELECT c.name, c.status AS client_status, p.status AS project_status,
              (SELECT count(*)::int FROM posts WHERE id = $3) AS posts,
              (SELECT count(*)::int FROM deliverables WHERE id = $4) AS deliverables
       FROM clients c JOIN projects p ON p.client_id = c.id WHERE c.id = $1 AND p.id = $2`,
      [ids.client, ids.project, ids.post, ids.deliverable],
    );
    expect(row).toEqual({
      name: `Client ${tag} renamed`,
      client_status: 'ARCHIVED',
      project_status: 'ARCHIVED',
      posts: 0,
      deliverables: 0,
    });
  });
});

describe('EDITOR', () => {
  it('reads everything', async () => {
    const [counts] = await t.sql(
      `SELECT (SELECT count(*)::int FROM posts) posts, (SELECT count(*)::int FROM clients) clients,
              (SELECT count(*)::int FROM projects) projects, (SELECT count(*)::int FROM deliverables) deliverables`,
    );
    const data = ok(
      await t.gql(
        '{ posts { totalCount } clients { totalCount } projects { totalCount } deliverables { totalCount } }',
        {},
        { as: EDITOR },
      ),
    );
    expect({
      posts: data.posts.totalCount,
      clients: data.clients.totalCount,
      projects: data.projects.totalCount,
      deliverables: data.deliverables.totalCount,
    }).toEqual(counts);
  });

  it('writes posts and deliverables', async () => {
    const project = gid('Project', await anyId('projects', "status <> 'ARCHIVED'"));
    const post = ok(
      await t.gql(
        'mutation($i: CreatePostInput!) { createPost(input: $i) { post { id author { email } } } }',
        { i: { projectId: project, title: 'By the editor', body: 'Body', platform: 'X' } },
        { as: EDITOR },
      ),
    ).createPost.post;
    expect(post.author.email).toBe(EDITOR);
    ok(
      await t.gql(
        'mutation($i: UpdatePostInput!) { updatePost(input: $i) { post { id } } }',
        { i: { id: post.id, title: 'Edited by the editor' } },
        { as: EDITOR },
      ),
    );
    const d = ok(
      await t.gql(
        'mutation($i: CreateDeliverableInput!) { createDeliverable(input: $i) { deliverable { id } } }',
        { i: { projectId: project, title: 'Editor deliverable', kind: 'Video edit' } },
        { as: EDITOR },
      ),
    ).createDeliverable.deliverable;
    ok(
      await t.gql(
        'mutation($i: UpdateDeliverableInput!) { updateDeliverable(input: $i) { deliverable { id } } }',
        { i: { id: d.id, title: 'Renamed' } },
        { as: EDITOR },
      ),
    );
    expect(await t.sql('SELECT title FROM posts WHERE id = $1', [rawId(post.id)])).toEqual([
      { title: 'Edited by the editor' },
    ]);
    expect(await t.sql('SELECT title FROM deliverables WHERE id = $1', [rawId(d.id)])).toEqual([
      { title: 'Renamed' },
    ]);
    ok(
      await t.gql(
        'mutation($id: ID!) { deletePost(input: { id: $id }) { deletedPostId } }',
        {
          id: post.id,
        },
        { as: EDITOR },
      ),
    );
    ok(
      await t.gql(
        'mutation($id: ID!) { deleteDeliverable(input: { id: $id }) { deletedDeliverableId } }',
        { id: d.id },
        { as: EDITOR },
      ),
    );
    expect(await t.sql('SELECT id FROM posts WHERE id = $1', [rawId(post.id)])).toEqual([]);
  });

  it('gets FORBIDDEN on clients and projects, and nothing is written', async () => {
    const client = await anyId('clients', "status = 'ACTIVE'");
    const project = await anyId('projects', "status = 'ACTIVE'");
    const snapshot = () =>
      t.sql(
        `SELECT (SELECT count(*)::int FROM clients) clients, (SELECT count(*)::int FROM projects) projects,
                (SELECT row(name, status, updated_at)::text FROM clients WHERE id = $1) c,
                (SELECT row(name, status, updated_at)::text FROM projects WHERE id = $2) p`,
        [client, project],
      );
    const before = await snapshot();
    const c = gid('Client', client);
    const p = gid('Project', project);
    for (const op of [
      'mutation { createClient(input: { name: "E", slug: "by-editor", industry: "Y" }) { client { id } } }',
      `mutation { updateClient(input: { id: "${c}", name: "E" }) { client { id } } }`,
      `mutation { archiveClient(input: { id: "${c}" }) { client { id } } }`,
      `mutation { createProject(input: { clientId: "${c}", name: "E" }) { project { id } } }`,
      `mutation { updateProject(input: { id: "${p}", name: "E" }) { project { id } } }`,
      `mutation { archiveProject(input: { id: "${p}" }) { project { id } } }`,
    ]) {
      const res = await t.gql(op, {}, { as: EDITOR });
      expect(res.data, op).toBeNull();
      expectError(res, 'FORBIDDEN');
    }
    expect(await snapshot()).toEqual(before);
  });
});

describe('CLIENT', () => {
  it('sees only its own client in every list and in dashboardStats', async () => {
    const data = ok(
      await t.gql(
        `{
          posts(first: 100) { totalCount edges { node { client { id } project { client { id } } } } }
          projects(first: 100) { totalCount edges { node { client { id } } } }
          clients(first: 100) { totalCount edges { node { id } } }
          deliverables(first: 100) { totalCount edges { node { project { client { id } } } } }
          otherByFilter: posts(filter: { clientId: "${gid('Client', other)}" }) { totalCount edges { node { id } } }
          viewer { email role client { id } }
        }`,
        {},
        { as: CLIENT1 },
      ),
    );
    const mine = gid('Client', own);
    const [counts] = await t.sql(
      `SELECT (SELECT count(*)::int FROM posts WHERE client_id = $1) posts,
              (SELECT count(*)::int FROM projects WHERE client_id = $1) projects,
              (SELECT count(*)::int FROM deliverables WHERE client_id = $1) deliverables`,
      [own],
    );
    expect(counts.posts).toBeGreaterThan(0);
    expect(data.posts.totalCount).toBe(counts.posts);
    expect(data.projects.totalCount).toBe(counts.projects);
    expect(data.deliverables.totalCount).toBe(counts.deliverables);
    expect(data.clients).toEqual({ totalCount: 1, edges: [{ node: { id: mine } }] });
    for (const e of data.posts.edges) {
      expect(e.node.client.id).toBe(mine);
      expect(e.node.project.client.id).toBe(mine);
    }
    for (const e of data.projects.edges) expect(e.node.client.id).toBe(mine);
    for (const e of data.deliverables.edges) expect(e.node.project.client.id).toBe(mine);
    expect(data.otherByFilter).toEqual({ totalCount: 0, edges: [] });
    expect(data.viewer).toEqual({ email: CLIENT1, role: 'CLIENT', client: { id: mine } });
  });

  it.each([
    ['off', t],
    ['memory', null],
  ] as const)(
    'two clients asking the same query each get their own rows (response cache %s)',
    async (_mode, app) => {
      const api = app ?? (await createTestApp({ RESPONSE_CACHE: 'memory' }));
      onTestFinished(() => (app ? undefined : api.close()));
      const query =
        '{ posts(first: 100) { totalCount edges { node { client { id } } } } clients { edges { node { id } } } }';
      for (const [as, clientId] of [
        [CLIENT1, own],
        [CLIENT2, other],
        [CLIENT1, own],
        [CLIENT2, other],
      ] as const) {
        const data = ok(await api.gql(query, {}, { as }));
        const [{ n }] = await api.sql('SELECT count(*)::int n FROM posts WHERE client_id = $1', [
          clientId,
        ]);
        expect(data.posts.totalCount, as).toBe(n);
        expect(
          new Set(
            data.posts.edges.map((e: { node: { client: { id: string } } }) => e.node.client.id),
          ),
        ).toEqual(n ? new Set([gid('Client', clientId)]) : new Set());
        expect(data.clients.edges).toEqual([{ node: { id: gid('Client', clientId) } }]);
      }
    },
  );

  it('sees its own numbers in dashboardStats and NOT_FOUND for another client', async () => {
    const mineStats = ok(
      await t.gql('{ dashboardStats { postsByStatus { status count } } }', {}, { as: CLIENT1 }),
    );
    const explicit = ok(
      await t.gql(
        '{ dashboardStats(clientId: $c) { postsByStatus { status count } } }'.replace(
          '$c',
          `"${gid('Client', own)}"`,
        ),
        {},
        { as: CLIENT1 },
      ),
    );
    const total = (s: { count: number }[]) => s.reduce((n, r) => n + r.count, 0);
    const [{ n }] = await t.sql('SELECT count(*)::int n FROM posts WHERE client_id = $1', [own]);
    expect(total(mineStats.dashboardStats.postsByStatus)).toBe(n);
    expect(explicit).toEqual(mineStats);
    const res = await t.gql(
      'query($c: ID) { dashboardStats(clientId: $c) { overdueDeliverables } }',
      { c: gid('Client', other) },
      { as: CLIENT1 },
    );
    expect(res.data).toBeNull();
    expectError(res, 'NOT_FOUND', 'clientId');
  });

  it('sees only its own rows through nested connections', async () => {
    // Every row of the client at once: 100-row pages on three levels, past the default cost limit.
    const wide = await createTestApp({ MAX_QUERY_COST: '100000000' }, { url: t.url });
    const res = await wide
      .gql(
        `{ clients { edges { node { id projects(first: 100) { totalCount edges { node {
             client { id }
             posts(first: 100) { totalCount edges { node { client { id } } } }
             deliverables(first: 100) { totalCount edges { node { project { client { id } } } } }
           } } } } } } }`,
        {},
        { token: await t.tokenFor(CLIENT1) },
      )
      .finally(() => wide.close());
    const data = ok(res);
    const mine = gid('Client', own);
    const projects = data.clients.edges[0].node.projects;
    const [{ n }] = await t.sql('SELECT count(*)::int n FROM projects WHERE client_id = $1', [own]);
    expect(projects.totalCount).toBe(n);
    let posts = 0;
    for (const { node: p } of projects.edges) {
      expect(p.client.id).toBe(mine);
      posts += p.posts.totalCount;
      for (const e of p.posts.edges) expect(e.node.client.id).toBe(mine);
      for (const e of p.deliverables.edges) expect(e.node.project.client.id).toBe(mine);
    }
    const [{ m }] = await t.sql('SELECT count(*)::int m FROM posts WHERE client_id = $1', [own]);
    expect(posts).toBe(m);
  });

  it('gets null from node(id:) and nodes(ids:) for another client’s objects', async () => {
    const theirs = {
      Post: await anyId('posts', 'client_id = $1', [other]),
      Project: await anyId('projects', 'client_id = $1', [other]),
      Client: other,
      Deliverable: await anyId('deliverables', 'client_id = $1', [other]),
      User: await anyId('users', 'client_id = $1', [other]),
    };
    const mine = {
      Post: await anyId('posts', 'client_id = $1', [own]),
      Project: await anyId('projects', 'client_id = $1', [own]),
      Client: own,
      Deliverable: await anyId('deliverables', 'client_id = $1', [own]),
      User: await anyId('users', 'client_id = $1', [own]),
    };
    for (const [type, id] of Object.entries(theirs)) {
      const res = await t.gql(
        'query($id: ID!) { node(id: $id) { id __typename } }',
        {
          id: gid(type, id),
        },
        { as: CLIENT1 },
      );
      expect(ok(res).node, type).toBeNull();
      // An admin sees the same object, so the null is the rule, not a missing row.
      const admin = await t.gql(
        'query($id: ID!) { node(id: $id) { id } }',
        { id: gid(type, id) },
        {
          as: ADMIN,
        },
      );
      expect(ok(admin).node, type).toEqual({ id: gid(type, id) });
    }
    for (const [type, id] of Object.entries(mine)) {
      const res = await t.gql(
        'query($id: ID!) { node(id: $id) { id __typename } }',
        {
          id: gid(type, id),
        },
        { as: CLIENT1 },
      );
      expect(ok(res).node).toEqual({ id: gid(type, id), __typename: type });
    }
    const ids = Object.entries(theirs).flatMap(([type, id]) => [
      gid(type, id),
      gid(type, mine[type as keyof typeof mine]),
    ]);
    const { nodes } = ok(
      await t.gql('query($ids: [ID!]!) { nodes(ids: $ids) { id } }', { ids }, { as: CLIENT1 }),
    );
    expect(nodes).toEqual(ids.map((id, i) => (i % 2 === 0 ? null : { id })));
  });

  it('cannot reach another client’s data through a reachable object', async () => {
    // Staff users are visible (as authors and assignees) but without e-mail or client.
    const staff = await anyId('users', "role = 'EDITOR'");
    const data = ok(
      await t.gql(
        'query($id: ID!) { node(id: $id) { ... on User { email client { id } } } }',
        { id: gid('User', staff) },
        { as: CLIENT1 },
      ),
    );
    expect(data.node).toEqual({ email: null, client: null });
    const otherUser = await anyId('users', 'client_id = $1', [other]);
    const res = ok(
      await t.gql(
        'query($id: ID!) { node(id: $id) { ... on User { email } } }',
        {
          id: gid('User', otherUser),
        },
        { as: CLIENT1 },
      ),
    );
    expect(res.node).toBeNull();
  });

  it('gets FORBIDDEN for every write but approval, and nothing is written', async () => {
    const project = gid('Project', await anyId('projects', 'client_id = $1', [own]));
    const post = gid('Post', await anyId('posts', 'client_id = $1', [own]));
    const d = gid('Deliverable', await anyId('deliverables', 'client_id = $1', [own]));
    const c = gid('Client', own);
    const snapshot = () =>
      t.sql(`SELECT (SELECT count(*)::int FROM clients) c, (SELECT count(*)::int FROM projects) p,
        (SELECT count(*)::int FROM posts) po, (SELECT count(*)::int FROM deliverables) d,
        (SELECT max(updated_at)::text FROM posts) pu, (SELECT max(updated_at)::text FROM deliverables) du,
        (SELECT max(updated_at)::text FROM projects) pru, (SELECT max(updated_at)::text FROM clients) cu`);
    const before = await snapshot();
    for (const op of [
      'mutation { createClient(input: { name: "C", slug: "by-client", industry: "Y" }) { client { id } } }',
      `mutation { updateClient(input: { id: "${c}", name: "C" }) { client { id } } }`,
      `mutation { archiveClient(input: { id: "${c}" }) { client { id } } }`,
      `mutation { createProject(input: { clientId: "${c}", name: "C" }) { project { id } } }`,
      `mutation { updateProject(input: { id: "${project}", name: "C" }) { project { id } } }`,
      `mutation { archiveProject(input: { id: "${project}" }) { project { id } } }`,
      `mutation { createPost(input: { projectId: "${project}", title: "T", body: "B", platform: X }) { post { id } } }`,
      `mutation { updatePost(input: { id: "${post}", title: "T" }) { post { id } } }`,
      `mutation { deletePost(input: { id: "${post}" }) { deletedPostId } }`,
      `mutation { createDeliverable(input: { projectId: "${project}", title: "T", kind: "K" }) { deliverable { id } } }`,
      `mutation { updateDeliverable(input: { id: "${d}", title: "T" }) { deliverable { id } } }`,
      `mutation { deleteDeliverable(input: { id: "${d}" }) { deletedDeliverableId } }`,
    ]) {
      const res = await t.gql(op, {}, { as: CLIENT1 });
      expect(res.data, op).toBeNull();
      expectError(res, 'FORBIDDEN');
    }
    expect(await snapshot()).toEqual(before);
  });

  describe('approval', () => {
    const APPROVE_POST = `mutation($i: UpdatePostInput!) { updatePost(input: $i) { post { id status } } }`;
    const APPROVE_DELIVERABLE = `mutation($i: UpdateDeliverableInput!) {
      updateDeliverable(input: $i) { deliverable { id status } } }`;
    const row = (table: string, id: number) =>
      t.sql(`SELECT to_jsonb(x) - 'updated_at' AS r FROM ${table} x WHERE id = $1`, [id]);

    it('approves its own post and deliverable that are in review', async () => {
      const post = await anyId('posts', "client_id = $1 AND status = 'IN_REVIEW'", [own]);
      const d = await anyId('deliverables', "client_id = $1 AND status = 'IN_REVIEW'", [own]);
      const p = ok(
        await t.gql(
          APPROVE_POST,
          { i: { id: gid('Post', post), status: 'APPROVED' } },
          {
            as: CLIENT1,
          },
        ),
      );
      expect(p.updatePost.post.status).toBe('APPROVED');
      const q = ok(
        await t.gql(
          APPROVE_DELIVERABLE,
          { i: { id: gid('Deliverable', d), status: 'APPROVED' } },
          {
            as: CLIENT1,
          },
        ),
      );
      expect(q.updateDeliverable.deliverable.status).toBe('APPROVED');
      expect(await t.sql('SELECT status FROM posts WHERE id = $1', [post])).toEqual([
        { status: 'APPROVED' },
      ]);
      expect(await t.sql('SELECT status FROM deliverables WHERE id = $1', [d])).toEqual([
        { status: 'APPROVED' },
      ]);
    });

    it('may not approve what is not in review, change anything else, or touch another client', async () => {
      const draft = await anyId('posts', "client_id = $1 AND status = 'DRAFT'", [own]);
      const inReview = await anyId('posts', "client_id = $1 AND status = 'IN_REVIEW'", [own]);
      // Give it a schedule so that clearing it would be a visible write.
      await t.sql(`UPDATE posts SET scheduled_at = now() + interval '3 days' WHERE id = $1`, [
        inReview,
      ]);
      const theirs = await anyId('posts', "client_id = $1 AND status = 'IN_REVIEW'", [other]);
      const cases: [number, Record<string, unknown>, string][] = [
        [draft, { status: 'APPROVED' }, 'FORBIDDEN'],
        [inReview, { status: 'DRAFT' }, 'FORBIDDEN'],
        [inReview, { status: 'ARCHIVED' }, 'FORBIDDEN'],
        [inReview, { status: 'APPROVED', title: 'Sneaky' }, 'FORBIDDEN'],
        [inReview, { status: 'APPROVED', scheduledAt: null }, 'FORBIDDEN'],
        [inReview, { status: 'APPROVED', tags: [] }, 'FORBIDDEN'],
        [theirs, { status: 'APPROVED' }, 'NOT_FOUND'],
      ];
      for (const [id, change, code] of cases) {
        const before = await row('posts', id);
        const res = await t.gql(
          APPROVE_POST,
          { i: { id: gid('Post', id), ...change } },
          {
            as: CLIENT1,
          },
        );
        expect(res.data, JSON.stringify(change)).toBeNull();
        expectError(res, code, code === 'NOT_FOUND' ? 'input.id' : undefined);
        expect(await row('posts', id), JSON.stringify(change)).toEqual(before);
      }

      const todo = await anyId('deliverables', "client_id = $1 AND status = 'TODO'", [own]);
      const review = await anyId('deliverables', "client_id = $1 AND status <> 'TODO'", [own]);
      // In review, assigned and dated, so that clearing the assignee or date would show.
      await t.sql(
        `UPDATE deliverables SET status = 'IN_REVIEW', due_date = current_date + 5,
           assignee_id = (SELECT id FROM users WHERE role = 'EDITOR' ORDER BY id LIMIT 1)
         WHERE id = $1`,
        [review],
      );
      const theirD = await anyId('deliverables', "client_id = $1 AND status = 'IN_REVIEW'", [
        other,
      ]);
      const dCases: [number, Record<string, unknown>, string][] = [
        [todo, { status: 'APPROVED' }, 'FORBIDDEN'],
        [review, { status: 'IN_PROGRESS' }, 'FORBIDDEN'],
        [review, { status: 'APPROVED', title: 'Sneaky' }, 'FORBIDDEN'],
        [review, { status: 'APPROVED', assigneeId: null }, 'FORBIDDEN'],
        [review, { status: 'APPROVED', dueDate: null }, 'FORBIDDEN'],
        [theirD, { status: 'APPROVED' }, 'NOT_FOUND'],
      ];
      for (const [id, change, code] of dCases) {
        const before = await row('deliverables', id);
        const res = await t.gql(
          APPROVE_DELIVERABLE,
          { i: { id: gid('Deliverable', id), ...change } },
          {
            as: CLIENT1,
          },
        );
        expect(res.data, JSON.stringify(change)).toBeNull();
        expectError(res, code, code === 'NOT_FOUND' ? 'input.id' : undefined);
        expect(await row('deliverables', id), JSON.stringify(change)).toEqual(before);
      }
    });
  });
});
