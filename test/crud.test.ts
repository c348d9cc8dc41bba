/**
 * Round trips for every entity (create, read by node(id:), update, read, archive/delete, read),
 * every kind of bad input (typed error naming the field, and nothing written), and masking of
 * unexpected errors.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { expectError, expectNoLeak, ok } from './expect-error.ts';
import { ADMIN, CLIENT1, EDITOR } from './fixtures.ts';
import { createTestApp, type GqlResult, gid, rawId, useTestApp } from './harness.ts';

const t = await useTestApp();

const CLIENT_FIELDS = 'id name slug industry status';
const PROJECT_FIELDS = 'id name description status startDate dueDate budgetCents client { id }';
const POST_FIELDS =
  'id title body platform status scheduledAt publishedAt tags project { id } client { id } author { email }';
const DELIVERABLE_FIELDS = 'id title kind status dueDate assignee { id } project { id }';

const FIELDS = {
  Client: CLIENT_FIELDS,
  Project: PROJECT_FIELDS,
  Post: POST_FIELDS,
  Deliverable: DELIVERABLE_FIELDS,
} as const;

/** Reads an object back by `node(id:)` as the admin. */
const node = async (id: string, type: keyof typeof FIELDS) =>
  ok(
    await t.gql(
      `query($id: ID!) { node(id: $id) { __typename ... on ${type} { ${FIELDS[type]} } } }`,
      { id },
      { as: ADMIN },
    ),
  ).node;

async function mutate(name: string, input: Record<string, unknown>, select: string, as = ADMIN) {
  const inputType = `${name[0]?.toUpperCase()}${name.slice(1)}Input`;
  return t.gql(
    `mutation($i: ${inputType}!) { ${name}(input: $i) { ${select} } }`,
    { i: input },
    {
      as,
    },
  );
}

async function firstId(table: string, where = 'TRUE', params: unknown[] = []): Promise<number> {
  const rows = await t.sql(`SELECT id FROM ${table} WHERE ${where} ORDER BY id LIMIT 1`, params);
  if (!rows[0]) throw new Error(`no ${table} row where ${where}`);
  return rows[0].id as number;
}

/** A fingerprint of every domain table: any write changes it. */
const fingerprint = async () =>
  (
    await t.pool.query(`SELECT
    (SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY id), '')) FROM clients x) clients,
    (SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY id), '')) FROM projects x) projects,
    (SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY id), '')) FROM posts x) posts,
    (SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY id), '')) FROM deliverables x) deliverables,
    (SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY id), '')) FROM users x) users`)
  ).rows;

describe('round trips', () => {
  it('client: create, read, update, read, archive, read', async () => {
    const created = ok(
      await mutate(
        'createClient',
        { name: '  Round Trip Bakery ', slug: 'round-trip-bakery', industry: 'Food' },
        `client { ${CLIENT_FIELDS} }`,
      ),
    ).createClient.client;
    expect(created).toMatchObject({
      name: 'Round Trip Bakery',
      slug: 'round-trip-bakery',
      industry: 'Food',
      status: 'ACTIVE',
    });
    expect(await node(created.id, 'Client')).toEqual({ __typename: 'Client', ...created });
    const updated = ok(
      await mutate(
        'updateClient',
        { id: created.id, name: 'Round Trip Patisserie', slug: 'round-trip-patisserie' },
        `client { ${CLIENT_FIELDS} }`,
      ),
    ).updateClient.client;
    expect(updated).toEqual({
      ...created,
      name: 'Round Trip Patisserie',
      slug: 'round-trip-patisserie',
    });
    expect(await node(created.id, 'Client')).toEqual({ __typename: 'Client', ...updated });
    const archived = ok(
      await mutate('archiveClient', { id: created.id }, `client { ${CLIENT_FIELDS} }`),
    ).archiveClient.client;
    expect(archived.status).toBe('ARCHIVED');
    expect(await node(created.id, 'Client')).toEqual({ __typename: 'Client', ...archived });
    expect(
      await t.sql('SELECT name, slug, status FROM clients WHERE id = $1', [rawId(created.id)]),
    ).toEqual([
      { name: 'Round Trip Patisserie', slug: 'round-trip-patisserie', status: 'ARCHIVED' },
    ]);

    // An archived client takes no new projects.
    const before = await fingerprint();
    const res = await mutate(
      'createProject',
      { clientId: created.id, name: 'Late' },
      'project { id }',
    );
    expectError(res, 'BAD_USER_INPUT', 'input.clientId');
    expect(await fingerprint()).toEqual(before);
  });

  it('project: create, read, update, read, archive, read', async () => {
    const client = gid('Client', await firstId('clients', "status = 'ACTIVE'"));
    const created = ok(
      await mutate(
        'createProject',
        {
          clientId: client,
          name: 'Autumn launch',
          description: 'Everything for the launch',
          startDate: '2026-09-01',
          dueDate: '2026-10-31',
          budgetCents: 1_250_000,
        },
        `project { ${PROJECT_FIELDS} }`,
      ),
    ).createProject.project;
    expect(created).toMatchObject({
      name: 'Autumn launch',
      status: 'PLANNING',
      startDate: '2026-09-01',
      dueDate: '2026-10-31',
      budgetCents: 1_250_000,
      client: { id: client },
    });
    expect(await node(created.id, 'Project')).toEqual({ __typename: 'Project', ...created });
    const updated = ok(
      await mutate(
        'updateProject',
        {
          id: created.id,
          status: 'ACTIVE',
          dueDate: '2026-11-15',
          budgetCents: 0,
          description: '',
        },
        `project { ${PROJECT_FIELDS} }`,
      ),
    ).updateProject.project;
    expect(updated).toEqual({
      ...created,
      status: 'ACTIVE',
      dueDate: '2026-11-15',
      budgetCents: 0,
      description: '',
    });
    expect(await node(created.id, 'Project')).toEqual({ __typename: 'Project', ...updated });
    const archived = ok(
      await mutate('archiveProject', { id: created.id }, `project { ${PROJECT_FIELDS} }`),
    ).archiveProject.project;
    expect(archived).toEqual({ ...updated, status: 'ARCHIVED' });
    expect(await node(created.id, 'Project')).toEqual({ __typename: 'Project', ...archived });
    expect(
      await t.sql(
        "SELECT status, to_char(due_date, 'YYYY-MM-DD') due, budget_cents FROM projects WHERE id = $1",
        [rawId(created.id)],
      ),
    ).toEqual([{ status: 'ARCHIVED', due: '2026-11-15', budget_cents: 0 }]);

    // An archived project takes no new posts.
    const before = await fingerprint();
    const res = await mutate(
      'createPost',
      { projectId: created.id, title: 'T', body: 'B', platform: 'X' },
      'post { id }',
    );
    expectError(res, 'BAD_USER_INPUT', 'input.projectId');
    expect(await fingerprint()).toEqual(before);
  });

  it('post: create, read, update through the workflow, move to another client, delete', async () => {
    const [a, b] = await t.sql(
      `SELECT DISTINCT ON (client_id) id, client_id FROM projects WHERE status <> 'ARCHIVED'
       ORDER BY client_id, id LIMIT 2`,
    );
    const created = ok(
      await mutate(
        'createPost',
        {
          projectId: gid('Project', a.id),
          title: ' Hello ',
          body: 'First body',
          platform: 'LINKEDIN',
          tags: ['Launch', 'launch', ' news '],
        },
        `post { ${POST_FIELDS} }`,
        EDITOR,
      ),
    ).createPost.post;
    expect(created).toEqual({
      id: expect.any(String),
      title: 'Hello',
      body: 'First body',
      platform: 'LINKEDIN',
      status: 'DRAFT',
      scheduledAt: null,
      publishedAt: null,
      tags: ['launch', 'news'],
      project: { id: gid('Project', a.id) },
      client: { id: gid('Client', a.client_id) },
      author: { email: EDITOR },
    });
    expect(await node(created.id, 'Post')).toEqual({ __typename: 'Post', ...created });

    const when = '2030-01-15T09:30:00.000Z';
    let post = created;
    for (const change of [
      { title: 'Hello again', body: 'Second body', platform: 'BLOG', tags: [] },
      { status: 'IN_REVIEW' },
      { status: 'APPROVED' },
      { status: 'SCHEDULED', scheduledAt: when },
    ]) {
      post = ok(
        await mutate('updatePost', { id: created.id, ...change }, `post { ${POST_FIELDS} }`),
      ).updatePost.post;
      expect(post).toMatchObject(change);
      expect(await node(created.id, 'Post')).toEqual({ __typename: 'Post', ...post });
    }
    expect(post.scheduledAt).toBe(when);
    const published = ok(
      await mutate(
        'updatePost',
        { id: created.id, status: 'PUBLISHED' },
        `post { ${POST_FIELDS} }`,
      ),
    ).updatePost.post;
    expect(published.status).toBe('PUBLISHED');
    expect(Date.parse(published.publishedAt)).toBeGreaterThan(Date.now() - 60_000);

    // Moving the post to another client's project moves its client too.
    const moved = ok(
      await mutate(
        'updatePost',
        { id: created.id, projectId: gid('Project', b.id) },
        `post { ${POST_FIELDS} }`,
      ),
    ).updatePost.post;
    expect(moved.project.id).toBe(gid('Project', b.id));
    expect(moved.client.id).toBe(gid('Client', b.client_id));
    expect(b.client_id).not.toBe(a.client_id);
    expect(
      await t.sql('SELECT project_id, client_id, status FROM posts WHERE id = $1', [
        rawId(created.id),
      ]),
    ).toEqual([{ project_id: b.id, client_id: b.client_id, status: 'PUBLISHED' }]);
    // The old client's lists no longer hold it; the new client's do.
    const lists = ok(
      await t.gql(
        `query($a: ID!, $b: ID!) { a: posts(first: 100, filter: { clientId: $a }) { edges { node { id } } }
          b: posts(first: 100, filter: { projectId: $b }) { edges { node { id } } } }`,
        { a: gid('Client', a.client_id), b: gid('Project', b.id) },
        { as: ADMIN },
      ),
    );
    expect(lists.a.edges.map((e: { node: { id: string } }) => e.node.id)).not.toContain(created.id);
    expect(lists.b.edges.map((e: { node: { id: string } }) => e.node.id)).toContain(created.id);

    const deleted = ok(await mutate('deletePost', { id: created.id }, 'deletedPostId'));
    expect(deleted.deletePost.deletedPostId).toBe(created.id);
    expect(await node(created.id, 'Post')).toBeNull();
    expect(await t.sql('SELECT id FROM posts WHERE id = $1', [rawId(created.id)])).toEqual([]);
    const again = await mutate('deletePost', { id: created.id }, 'deletedPostId');
    expectError(again, 'NOT_FOUND', 'input.id');
  });

  it('deliverable: create, read, update, read, delete, read', async () => {
    const project = gid('Project', await firstId('projects'));
    const editor = gid('User', await firstId('users', 'email = $1', [EDITOR]));
    const created = ok(
      await mutate(
        'createDeliverable',
        {
          projectId: project,
          title: 'Photo set',
          kind: 'Photos',
          dueDate: '2030-02-01',
          assigneeId: editor,
        },
        `deliverable { ${DELIVERABLE_FIELDS} }`,
        EDITOR,
      ),
    ).createDeliverable.deliverable;
    expect(created).toEqual({
      id: expect.any(String),
      title: 'Photo set',
      kind: 'Photos',
      status: 'TODO',
      dueDate: '2030-02-01',
      assignee: { id: editor },
      project: { id: project },
    });
    expect(await node(created.id, 'Deliverable')).toEqual({
      __typename: 'Deliverable',
      ...created,
    });
    let d = created;
    for (const change of [
      { status: 'IN_PROGRESS', assigneeId: null, dueDate: '2030-03-01', title: 'Photo set v2' },
      { status: 'IN_REVIEW' },
      { status: 'APPROVED' },
      { status: 'DELIVERED' },
    ]) {
      d = ok(
        await mutate(
          'updateDeliverable',
          { id: created.id, ...change },
          `deliverable { ${DELIVERABLE_FIELDS} }`,
        ),
      ).updateDeliverable.deliverable;
      expect(d.status).toBe(change.status);
      expect(await node(created.id, 'Deliverable')).toEqual({ __typename: 'Deliverable', ...d });
    }
    expect(d).toMatchObject({ assignee: null, dueDate: '2030-03-01', title: 'Photo set v2' });
    ok(await mutate('deleteDeliverable', { id: created.id }, 'deletedDeliverableId'));
    expect(await node(created.id, 'Deliverable')).toBeNull();
    expect(await t.sql('SELECT id FROM deliverables WHERE id = $1', [rawId(created.id)])).toEqual(
      [],
    );
  });
});

describe('round trips with the response cache on (the default outside tests)', () => {
  it('a deleted post or deliverable is not served from the cache by node(id:)', async () => {
    const cached = await createTestApp({ RESPONSE_CACHE: 'memory' });
    try {
      const project = gid('Project', await firstId('projects', "status = 'ACTIVE'"));
      const read = async (id: string) =>
        ok(await cached.gql('query($id: ID!) { node(id: $id) { id } }', { id }, { as: ADMIN }))
          .node;
      const post = ok(
        await cached.gql(
          'mutation($i: CreatePostInput!) { createPost(input: $i) { post { id } } }',
          { i: { projectId: project, title: 'Cached', body: 'B', platform: 'X' } },
          { as: ADMIN },
        ),
      ).createPost.post.id;
      const d = ok(
        await cached.gql(
          'mutation($i: CreateDeliverableInput!) { createDeliverable(input: $i) { deliverable { id } } }',
          { i: { projectId: project, title: 'Cached', kind: 'K' } },
          { as: ADMIN },
        ),
      ).createDeliverable.deliverable.id;
      // Read twice so the answer is in the cache.
      expect(await read(post)).toEqual({ id: post });
      expect(await read(post)).toEqual({ id: post });
      expect(await read(d)).toEqual({ id: d });
      expect(await read(d)).toEqual({ id: d });
      ok(
        await cached.gql(
          'mutation($id: ID!) { deletePost(input: { id: $id }) { deletedPostId } }',
          { id: post },
          { as: ADMIN },
        ),
      );
      ok(
        await cached.gql(
          'mutation($id: ID!) { deleteDeliverable(input: { id: $id }) { deletedDeliverableId } }',
          { id: d },
          { as: ADMIN },
        ),
      );
      expect(await read(post)).toBeNull();
      expect(await read(d)).toBeNull();
    } finally {
      await cached.close();
    }
  });
});

// ---- bad input ------------------------------------------------------------------------------

describe('bad input: a typed error naming the field, and nothing written', () => {
  let project: string;
  let archivedProject: string;
  let client: string;
  let otherClientSlug: string;
  let draftPost: string;
  let approvedPost: string;
  let scheduledPost: string;
  let todo: string;
  let delivered: string;
  let clientUser: string;
  let datedProject: string;

  beforeAll(async () => {
    project = gid('Project', await firstId('projects', "status = 'ACTIVE'"));
    archivedProject = gid('Project', await firstId('projects', "status = 'ARCHIVED'"));
    client = gid('Client', await firstId('clients', "status = 'ACTIVE'"));
    otherClientSlug = (
      await t.sql('SELECT slug FROM clients WHERE id <> $1 ORDER BY id LIMIT 1', [rawId(client)])
    )[0].slug;
    draftPost = gid('Post', await firstId('posts', "status = 'DRAFT'"));
    approvedPost = gid(
      'Post',
      await firstId('posts', "status = 'APPROVED' AND scheduled_at IS NULL"),
    );
    scheduledPost = gid(
      'Post',
      await firstId('posts', "status = 'APPROVED' AND scheduled_at IS NOT NULL"),
    );
    todo = gid('Deliverable', await firstId('deliverables', "status = 'TODO'"));
    delivered = gid('Deliverable', await firstId('deliverables', "status = 'DELIVERED'"));
    clientUser = gid('User', await firstId('users', 'email = $1', [CLIENT1]));
    datedProject = gid(
      'Project',
      await firstId('projects', "start_date IS NOT NULL AND status = 'ACTIVE'"),
    );
  });

  const long = (n: number) => 'x'.repeat(n);
  const newPost = (over: Record<string, unknown>) => ({
    projectId: project,
    title: 'Valid title',
    body: 'Valid body',
    platform: 'X',
    ...over,
  });

  type Case = [label: string, run: () => Promise<GqlResult>, code: string, field: string];
  const cases = (): Case[] => [
    // unknown, wrong-type and malformed IDs
    [
      'createPost unknown project',
      () => mutate('createPost', newPost({ projectId: gid('Project', 999_999) }), 'post { id }'),
      'NOT_FOUND',
      'input.projectId',
    ],
    [
      'createPost Post ID as projectId',
      () => mutate('createPost', newPost({ projectId: draftPost }), 'post { id }'),
      'BAD_USER_INPUT',
      'input.projectId',
    ],
    [
      'createPost malformed projectId',
      () => mutate('createPost', newPost({ projectId: 'not-an-id' }), 'post { id }'),
      'BAD_USER_INPUT',
      'input.projectId',
    ],
    [
      'createPost empty projectId',
      () => mutate('createPost', newPost({ projectId: '' }), 'post { id }'),
      'BAD_USER_INPUT',
      'input.projectId',
    ],
    [
      'createPost out-of-range projectId',
      () =>
        mutate('createPost', newPost({ projectId: gid('Project', 9_999_999_999) }), 'post { id }'),
      'BAD_USER_INPUT',
      'input.projectId',
    ],
    [
      'createPost ID of an unknown type',
      () => mutate('createPost', newPost({ projectId: gid('Invoice', 1) }), 'post { id }'),
      'BAD_USER_INPUT',
      'input.projectId',
    ],
    [
      'updatePost unknown id',
      () => mutate('updatePost', { id: gid('Post', 999_999), title: 'T' }, 'post { id }'),
      'NOT_FOUND',
      'input.id',
    ],
    [
      'updatePost Project ID as id',
      () => mutate('updatePost', { id: project, title: 'T' }, 'post { id }'),
      'BAD_USER_INPUT',
      'input.id',
    ],
    [
      'updatePost unknown projectId',
      () =>
        mutate('updatePost', { id: draftPost, projectId: gid('Project', 999_999) }, 'post { id }'),
      'NOT_FOUND',
      'input.projectId',
    ],
    [
      'updatePost to an archived project',
      () =>
        mutate(
          'updatePost',
          { id: draftPost, title: 'Moved', projectId: archivedProject },
          'post { id }',
        ),
      'BAD_USER_INPUT',
      'input.projectId',
    ],
    [
      'deletePost unknown id',
      () => mutate('deletePost', { id: gid('Post', 999_999) }, 'deletedPostId'),
      'NOT_FOUND',
      'input.id',
    ],
    [
      'deletePost Client ID',
      () => mutate('deletePost', { id: client }, 'deletedPostId'),
      'BAD_USER_INPUT',
      'input.id',
    ],
    [
      'createDeliverable unknown project',
      () =>
        mutate(
          'createDeliverable',
          { projectId: gid('Project', 999_999), title: 'T', kind: 'K' },
          'deliverable { id }',
        ),
      'NOT_FOUND',
      'input.projectId',
    ],
    [
      'createDeliverable unknown assignee',
      () =>
        mutate(
          'createDeliverable',
          { projectId: project, title: 'T', kind: 'K', assigneeId: gid('User', 999_999) },
          'deliverable { id }',
        ),
      'NOT_FOUND',
      'input.assigneeId',
    ],
    [
      'createDeliverable client user as assignee',
      () =>
        mutate(
          'createDeliverable',
          { projectId: project, title: 'T', kind: 'K', assigneeId: clientUser },
          'deliverable { id }',
        ),
      'BAD_USER_INPUT',
      'input.assigneeId',
    ],
    [
      'createDeliverable Post ID as assignee',
      () =>
        mutate(
          'createDeliverable',
          { projectId: project, title: 'T', kind: 'K', assigneeId: draftPost },
          'deliverable { id }',
        ),
      'BAD_USER_INPUT',
      'input.assigneeId',
    ],
    [
      'updateDeliverable unknown id',
      () =>
        mutate(
          'updateDeliverable',
          { id: gid('Deliverable', 999_999), title: 'T' },
          'deliverable { id }',
        ),
      'NOT_FOUND',
      'input.id',
    ],
    [
      'deleteDeliverable Post ID',
      () => mutate('deleteDeliverable', { id: draftPost }, 'deletedDeliverableId'),
      'BAD_USER_INPUT',
      'input.id',
    ],
    [
      'createProject unknown client',
      () =>
        mutate('createProject', { clientId: gid('Client', 999_999), name: 'P' }, 'project { id }'),
      'NOT_FOUND',
      'input.clientId',
    ],
    [
      'createProject Project ID as clientId',
      () => mutate('createProject', { clientId: project, name: 'P' }, 'project { id }'),
      'BAD_USER_INPUT',
      'input.clientId',
    ],
    [
      'updateProject unknown id',
      () => mutate('updateProject', { id: gid('Project', 999_999), name: 'P' }, 'project { id }'),
      'NOT_FOUND',
      'input.id',
    ],
    [
      'archiveProject Client ID',
      () => mutate('archiveProject', { id: client }, 'project { id }'),
      'BAD_USER_INPUT',
      'input.id',
    ],
    [
      'updateClient unknown id',
      () => mutate('updateClient', { id: gid('Client', 999_999), name: 'C' }, 'client { id }'),
      'NOT_FOUND',
      'input.id',
    ],
    [
      'archiveClient malformed id',
      () => mutate('archiveClient', { id: '%%%' }, 'client { id }'),
      'BAD_USER_INPUT',
      'input.id',
    ],
    [
      'node malformed id',
      () => t.gql('{ node(id: "garbage") { id } }', {}, { as: ADMIN }),
      'BAD_USER_INPUT',
      'id',
    ],
    [
      'posts filter Post ID as projectId',
      () =>
        t.gql(
          'query($p: ID) { posts(filter: { projectId: $p }) { totalCount } }',
          { p: draftPost },
          { as: ADMIN },
        ),
      'BAD_USER_INPUT',
      'filter.projectId',
    ],
    [
      'dashboardStats unknown client',
      () =>
        t.gql(
          'query($c: ID) { dashboardStats(clientId: $c) { overdueDeliverables } }',
          { c: gid('Client', 999_999) },
          { as: ADMIN },
        ),
      'NOT_FOUND',
      'clientId',
    ],
    // empty and too-long text
    [
      'createPost blank title',
      () => mutate('createPost', newPost({ title: '   ' }), 'post { id }'),
      'BAD_USER_INPUT',
      'input.title',
    ],
    [
      'createPost empty body',
      () => mutate('createPost', newPost({ body: '' }), 'post { id }'),
      'BAD_USER_INPUT',
      'input.body',
    ],
    [
      'createPost title of 301',
      () => mutate('createPost', newPost({ title: long(301) }), 'post { id }'),
      'BAD_USER_INPUT',
      'input.title',
    ],
    [
      'createPost body of 20001',
      () => mutate('createPost', newPost({ body: long(20_001) }), 'post { id }'),
      'BAD_USER_INPUT',
      'input.body',
    ],
    [
      'createPost 31 tags',
      () =>
        mutate(
          'createPost',
          newPost({ tags: Array.from({ length: 31 }, (_, i) => `t${i}`) }),
          'post { id }',
        ),
      'BAD_USER_INPUT',
      'input.tags',
    ],
    [
      'createPost empty tag',
      () => mutate('createPost', newPost({ tags: ['ok', ' '] }), 'post { id }'),
      'BAD_USER_INPUT',
      'input.tags',
    ],
    [
      'updatePost empty title',
      () => mutate('updatePost', { id: draftPost, title: '' }, 'post { id }'),
      'BAD_USER_INPUT',
      'input.title',
    ],
    [
      'createDeliverable empty kind',
      () =>
        mutate(
          'createDeliverable',
          { projectId: project, title: 'T', kind: ' ' },
          'deliverable { id }',
        ),
      'BAD_USER_INPUT',
      'input.kind',
    ],
    [
      'updateDeliverable title of 301',
      () => mutate('updateDeliverable', { id: todo, title: long(301) }, 'deliverable { id }'),
      'BAD_USER_INPUT',
      'input.title',
    ],
    [
      'createClient empty name',
      () => mutate('createClient', { name: '', slug: 'new-one', industry: 'I' }, 'client { id }'),
      'BAD_USER_INPUT',
      'input.name',
    ],
    [
      'createClient name of 201',
      () =>
        mutate(
          'createClient',
          { name: long(201), slug: 'new-one', industry: 'I' },
          'client { id }',
        ),
      'BAD_USER_INPUT',
      'input.name',
    ],
    [
      'createClient bad slug',
      () =>
        mutate('createClient', { name: 'N', slug: 'Not A Slug', industry: 'I' }, 'client { id }'),
      'BAD_USER_INPUT',
      'input.slug',
    ],
    [
      'createClient duplicate slug',
      () =>
        mutate(
          'createClient',
          { name: 'N', slug: otherClientSlug, industry: 'I' },
          'client { id }',
        ),
      'BAD_USER_INPUT',
      'input.slug',
    ],
    [
      'updateClient duplicate slug',
      () =>
        mutate(
          'updateClient',
          { id: client, name: 'Renamed', slug: otherClientSlug },
          'client { id }',
        ),
      'BAD_USER_INPUT',
      'input.slug',
    ],
    [
      'createProject empty name',
      () => mutate('createProject', { clientId: client, name: ' ' }, 'project { id }'),
      'BAD_USER_INPUT',
      'input.name',
    ],
    [
      'createProject description of 5001',
      () =>
        mutate(
          'createProject',
          { clientId: client, name: 'P', description: long(5001) },
          'project { id }',
        ),
      'BAD_USER_INPUT',
      'input.description',
    ],
    [
      'posts search of 201',
      () =>
        t.gql(
          'query($s: String) { posts(filter: { search: $s }) { totalCount } }',
          { s: long(201) },
          { as: ADMIN },
        ),
      'BAD_USER_INPUT',
      'filter.search',
    ],
    // dates, budget
    [
      'createProject dueDate before startDate',
      () =>
        mutate(
          'createProject',
          { clientId: client, name: 'P', startDate: '2026-05-02', dueDate: '2026-05-01' },
          'project { id }',
        ),
      'BAD_USER_INPUT',
      'input.dueDate',
    ],
    [
      'updateProject dueDate before its startDate',
      () =>
        mutate(
          'updateProject',
          { id: datedProject, name: 'Renamed', dueDate: '1999-01-01' },
          'project { id }',
        ),
      'BAD_USER_INPUT',
      'input.dueDate',
    ],
    [
      'createProject negative budget',
      () =>
        mutate('createProject', { clientId: client, name: 'P', budgetCents: -1 }, 'project { id }'),
      'BAD_USER_INPUT',
      'input.budgetCents',
    ],
    [
      'updateProject negative budget',
      () =>
        mutate(
          'updateProject',
          { id: project, name: 'Renamed', budgetCents: -100 },
          'project { id }',
        ),
      'BAD_USER_INPUT',
      'input.budgetCents',
    ],
    // workflow
    [
      'post DRAFT -> PUBLISHED',
      () =>
        mutate(
          'updatePost',
          { id: draftPost, title: 'Changed too', status: 'PUBLISHED' },
          'post { id }',
        ),
      'BAD_USER_INPUT',
      'input.status',
    ],
    [
      'post DRAFT -> SCHEDULED',
      () =>
        mutate(
          'updatePost',
          { id: draftPost, status: 'SCHEDULED', scheduledAt: '2030-01-01T00:00:00Z' },
          'post { id }',
        ),
      'BAD_USER_INPUT',
      'input.status',
    ],
    [
      'post scheduled without scheduledAt',
      () =>
        mutate(
          'updatePost',
          { id: approvedPost, title: 'Changed too', status: 'SCHEDULED' },
          'post { id }',
        ),
      'BAD_USER_INPUT',
      'input.scheduledAt',
    ],
    [
      'post scheduled while clearing scheduledAt',
      () =>
        mutate(
          'updatePost',
          { id: scheduledPost, status: 'SCHEDULED', scheduledAt: null },
          'post { id }',
        ),
      'BAD_USER_INPUT',
      'input.scheduledAt',
    ],
    [
      'deliverable TODO -> DELIVERED',
      () =>
        mutate(
          'updateDeliverable',
          { id: todo, title: 'Changed too', status: 'DELIVERED' },
          'deliverable { id }',
        ),
      'BAD_USER_INPUT',
      'input.status',
    ],
    [
      'deliverable TODO -> APPROVED',
      () => mutate('updateDeliverable', { id: todo, status: 'APPROVED' }, 'deliverable { id }'),
      'BAD_USER_INPUT',
      'input.status',
    ],
    [
      'deliverable DELIVERED -> TODO',
      () => mutate('updateDeliverable', { id: delivered, status: 'TODO' }, 'deliverable { id }'),
      'BAD_USER_INPUT',
      'input.status',
    ],
    [
      'project ACTIVE -> PLANNING',
      () =>
        mutate(
          'updateProject',
          { id: project, name: 'Changed too', status: 'PLANNING' },
          'project { id }',
        ),
      'BAD_USER_INPUT',
      'input.status',
    ],
    [
      'project ARCHIVED -> ACTIVE',
      () => mutate('updateProject', { id: archivedProject, status: 'ACTIVE' }, 'project { id }'),
      'BAD_USER_INPUT',
      'input.status',
    ],
    // paging arguments
    [
      'first above the maximum',
      () => t.gql('{ posts(first: 101) { totalCount } }', {}, { as: ADMIN }),
      'BAD_USER_INPUT',
      'first',
    ],
    [
      'negative last',
      () => t.gql('{ posts(last: -1) { totalCount } }', {}, { as: ADMIN }),
      'BAD_USER_INPUT',
      'last',
    ],
    [
      'tampered cursor',
      () =>
        t.gql(
          '{ posts(after: "eyJiIjoicG9zdHMifQ.AAAAAAAAAAAAAAAA") { totalCount } }',
          {},
          { as: ADMIN },
        ),
      'BAD_USER_INPUT',
      'after',
    ],
    [
      'more than 100 ids',
      () =>
        t.gql(
          'query($ids: [ID!]!) { nodes(ids: $ids) { id } }',
          { ids: Array.from({ length: 101 }, (_, i) => gid('Post', i + 1)) },
          { as: ADMIN },
        ),
      'BAD_USER_INPUT',
      'ids',
    ],
  ];

  it('every case', async () => {
    const failures: string[] = [];
    for (const [label, run, code, field] of cases()) {
      const before = await fingerprint();
      const res = await run();
      const err = res.errors?.[0];
      const after = await fingerprint();
      const got = `${err?.extensions?.code} ${err?.extensions?.field}`;
      if (got !== `${code} ${field}`)
        failures.push(`${label}: expected ${code} ${field}, got ${got} (${err?.message})`);
      else if (JSON.stringify(after) !== JSON.stringify(before))
        failures.push(`${label}: wrote data`);
      else if (Object.values(res.data ?? {}).some((v) => v !== null))
        failures.push(`${label}: returned data`);
      expectNoLeak(res);
    }
    expect(failures).toEqual([]);
  }, 120_000);

  it('malformed scalars and enum values are BAD_USER_INPUT naming the variable path', async () => {
    const before = await fingerprint();
    const cases: [string, Record<string, unknown>, string][] = [
      ['createProject', { clientId: client, name: 'P', startDate: '2026-02-30' }, 'i.startDate'],
      ['createProject', { clientId: client, name: 'P', dueDate: '31/01/2026' }, 'i.dueDate'],
      ['createPost', newPost({ scheduledAt: 'tomorrow' }), 'i.scheduledAt'],
      ['createPost', newPost({ platform: 'MYSPACE' }), 'i.platform'],
      ['createPost', newPost({ title: null }), 'i.title'],
    ];
    for (const [op, input, field] of cases) {
      const res = await mutate(op, input, op === 'createPost' ? 'post { id }' : 'project { id }');
      expect(res.data ?? null).toBeNull();
      expect(res.status).toBe(400);
      expectError(res, 'BAD_USER_INPUT', field);
      expectNoLeak(res);
    }
    const missing = await t.gql(
      'mutation($i: CreatePostInput!) { createPost(input: $i) { post { id } } }',
      {},
      { as: ADMIN },
    );
    expectError(missing, 'BAD_USER_INPUT', 'i');
    expect(await fingerprint()).toEqual(before);
  });
});

// ---- masking ------------------------------------------------------------------------------

describe('unexpected errors', () => {
  it('are masked: no SQL, stack or library detail reaches the client', async () => {
    // A database whose schema drifted under the running app: every post query fails in SQL.
    const broken = await createTestApp();
    try {
      await broken.sql('ALTER TABLE posts RENAME COLUMN body TO body_gone');
      const res = await broken.gql(
        '{ posts(first: 2) { edges { node { id body } } } }',
        {},
        { as: ADMIN, headers: { 'x-request-id': 'req-masking-test' } },
      );
      expect(res.status).toBe(200);
      expect(res.data).toBeNull();
      expect(res.errors).toHaveLength(1);
      expect(res.errors?.[0]?.message).toBe('Unexpected error.');
      expect(res.errors?.[0]?.extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR' });
      expectNoLeak(res);
      expect(JSON.stringify(res.errors)).not.toContain('body_gone');
      // The request id the log line carries is echoed so support can find it.
      expect(res.headers.get('x-request-id')).toBe('req-masking-test');
    } finally {
      await broken.close();
    }
  });

  it('a CLIENT token cannot probe other clients through error messages', async () => {
    const theirs = gid(
      'Post',
      await firstId('posts', 'client_id <> (SELECT client_id FROM users WHERE email = $1)', [
        CLIENT1,
      ]),
    );
    const unknown = gid('Post', 999_999);
    const a = await mutate(
      'updatePost',
      { id: theirs, status: 'APPROVED' },
      'post { id }',
      CLIENT1,
    );
    const b = await mutate(
      'updatePost',
      { id: unknown, status: 'APPROVED' },
      'post { id }',
      CLIENT1,
    );
    expectError(a, 'NOT_FOUND', 'input.id');
    expectError(b, 'NOT_FOUND', 'input.id');
    expect(a.errors?.[0]?.message.replace(theirs, 'X')).toBe(
      b.errors?.[0]?.message.replace(unknown, 'X'),
    );
  });
});
