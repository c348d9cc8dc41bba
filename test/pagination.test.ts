/**
 * Keyset pagination (issue 6): every list, every order and direction, walked page by page in
 * both directions against what SQL's ORDER BY gives; concurrent writes between pages; cursor
 * validation; nested connections; and EXPLAIN of the SQL the API issues on realistic volumes.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { TimedClient } from '../src/db/pool.ts';
import { setCursorSecret } from '../src/read/keyset.ts';
import { ADMIN } from './fixtures.ts';
import { type GqlResult, gid, rawId, useTestApp } from './harness.ts';

// The response cache is off: these tests change rows between requests on purpose.
const t = await useTestApp({ RESPONSE_CACHE: 'off' });

type Dir = 'ASC' | 'DESC';
interface ListDef {
  field: string;
  filterType: string;
  orderType: string;
  table: string;
  orders: Record<string, string>;
  filter: Record<string, unknown>;
  /** SQL condition matching `filter`. */
  where: string;
}

let CLIENT_ID = 0;
let PROJECT_ID = 0;
const lists: Record<string, ListDef> = {};

const PAGE_INFO = 'pageInfo { hasNextPage hasPreviousPage startCursor endCursor }';

function listQuery(l: ListDef, extra = ''): string {
  return `query($first: Int, $after: String, $last: Int, $before: String, $offset: Int,
      $filter: ${l.filterType}, $orderBy: ${l.orderType}) {
    list: ${l.field}(first: $first, after: $after, last: $last, before: $before, offset: $offset,
      filter: $filter, orderBy: $orderBy) { edges { cursor node { id } } ${PAGE_INFO} ${extra} }
  }`;
}

async function expectedIds(l: ListDef, col: string, dir: Dir, where = l.where): Promise<number[]> {
  const nulls = dir === 'ASC' ? 'LAST' : 'FIRST';
  const rows = await t.sql<{ id: number }>(
    `SELECT id FROM ${l.table} WHERE ${where} ORDER BY ${col} ${dir} NULLS ${nulls}, id ${dir}`,
  );
  return rows.map((r) => r.id);
}

interface Page {
  ids: number[];
  edges: { cursor: string; node: { id: string } }[];
  pageInfo: {
    hasNextPage: boolean;
    hasPreviousPage: boolean;
    startCursor: string | null;
    endCursor: string | null;
  };
}

async function page(l: ListDef, vars: Record<string, unknown>, extra = ''): Promise<Page> {
  const res = await t.gql(listQuery(l, extra), { filter: l.filter, ...vars }, { as: ADMIN });
  expect(res.errors).toBeUndefined();
  const conn = res.data?.list as Omit<Page, 'ids'>;
  return { ...conn, ids: conn.edges.map((e) => rawId(e.node.id)) };
}

function checkCursors(p: Page): void {
  expect(p.pageInfo.startCursor).toBe(p.edges[0]?.cursor ?? null);
  expect(p.pageInfo.endCursor).toBe(p.edges.at(-1)?.cursor ?? null);
}

/** Walks forward with first/after; checks pageInfo on every page. */
async function walkForward(
  l: ListDef,
  orderBy: object,
  size: number,
  between?: () => Promise<void>,
) {
  const seen: number[] = [];
  let after: string | null = null;
  for (let n = 0; n < 500; n++) {
    const p = await page(l, { first: size, after, orderBy });
    checkCursors(p);
    seen.push(...p.ids);
    if (!between) expect(p.pageInfo.hasPreviousPage).toBe(n > 0);
    if (!p.pageInfo.hasNextPage) return seen;
    expect(p.ids).toHaveLength(size);
    after = p.pageInfo.endCursor;
    if (between) await between();
  }
  throw new Error('walk did not end');
}

async function walkBackward(l: ListDef, orderBy: object, size: number) {
  const seen: number[] = [];
  let before: string | null = null;
  for (let n = 0; n < 500; n++) {
    const p = await page(l, { last: size, before, orderBy });
    checkCursors(p);
    seen.unshift(...p.ids);
    expect(p.pageInfo.hasNextPage).toBe(n > 0);
    if (!p.pageInfo.hasPreviousPage) return seen;
    expect(p.ids).toHaveLength(size);
    before = p.pageInfo.startCursor;
  }
  throw new Error('walk did not end');
}

beforeAll(async () => {
  const [c] = await t.sql<{ id: number }>('SELECT id FROM clients ORDER BY id LIMIT 1');
  CLIENT_ID = c?.id ?? 0;
  // Ties and nulls in every sort key, so the id tie-break and the null segments are exercised.
  await t.sql(`UPDATE posts SET title = 'Same title' WHERE id % 9 = 0`);
  await t.sql(`UPDATE posts SET created_at = '2026-01-01T00:00:00Z' WHERE id % 7 = 0`);
  await t.sql(`UPDATE posts SET updated_at = '2026-01-02T00:00:00Z' WHERE id % 6 = 0`);
  await t.sql(`UPDATE posts SET scheduled_at = NULL WHERE id % 3 = 0`);
  await t.sql(`UPDATE posts SET scheduled_at = '2026-02-01T00:00:00Z' WHERE id % 5 = 0`);
  // 40 more projects and 60 deliverables for the first client's first project, 30 more clients.
  await t.sql(
    `INSERT INTO projects (client_id, name, due_date, created_at, updated_at)
     SELECT $1, 'Project ' || (g % 13), CASE WHEN g % 4 = 0 THEN NULL ELSE DATE '2027-01-01' + (g % 9) END,
            TIMESTAMPTZ '2026-03-01' + (g % 11) * INTERVAL '1 hour', now()
     FROM generate_series(1, 40) g`,
    [CLIENT_ID],
  );
  const [p] = await t.sql<{ id: number }>(
    'SELECT id FROM projects WHERE client_id = $1 ORDER BY id LIMIT 1',
    [CLIENT_ID],
  );
  PROJECT_ID = p?.id ?? 0;
  await t.sql(
    `INSERT INTO deliverables (project_id, client_id, title, kind, due_date, created_at, updated_at)
     SELECT $1, $2, 'Deliverable ' || g, 'post', CASE WHEN g % 3 = 0 THEN NULL ELSE DATE '2027-01-01' + (g % 7) END,
            TIMESTAMPTZ '2026-03-01' + (g % 10) * INTERVAL '1 day', now()
     FROM generate_series(1, 60) g`,
    [PROJECT_ID, CLIENT_ID],
  );
  await t.sql(
    `INSERT INTO clients (name, slug, industry, updated_at)
     SELECT 'Client ' || (g % 7), 'pagination-client-' || g, 'Retail', now() FROM generate_series(1, 30) g`,
  );
  Object.assign(lists, {
    posts: {
      field: 'posts',
      filterType: 'PostFilter',
      orderType: 'PostOrder',
      table: 'posts',
      orders: {
        CREATED_AT: 'created_at',
        UPDATED_AT: 'updated_at',
        SCHEDULED_AT: 'scheduled_at',
        TITLE: 'title',
      },
      filter: { clientId: gid('Client', CLIENT_ID) },
      where: `client_id = ${CLIENT_ID}`,
    },
    projects: {
      field: 'projects',
      filterType: 'ProjectFilter',
      orderType: 'ProjectOrder',
      table: 'projects',
      orders: { DUE_DATE: 'due_date', NAME: 'name', CREATED_AT: 'created_at' },
      filter: { clientId: gid('Client', CLIENT_ID) },
      where: `client_id = ${CLIENT_ID}`,
    },
    deliverables: {
      field: 'deliverables',
      filterType: 'DeliverableFilter',
      orderType: 'DeliverableOrder',
      table: 'deliverables',
      orders: { DUE_DATE: 'due_date', CREATED_AT: 'created_at' },
      filter: { projectId: gid('Project', PROJECT_ID) },
      where: `project_id = ${PROJECT_ID}`,
    },
    clients: {
      field: 'clients',
      filterType: 'ClientFilter',
      orderType: 'ClientOrder',
      table: 'clients',
      orders: { NAME: 'name' },
      filter: { status: ['ACTIVE'] },
      where: `status = 'ACTIVE'`,
    },
  } satisfies Record<string, ListDef>);
});

const WALKS: [string, string][] = [
  ['posts', 'CREATED_AT'],
  ['posts', 'UPDATED_AT'],
  ['posts', 'SCHEDULED_AT'],
  ['posts', 'TITLE'],
  ['projects', 'DUE_DATE'],
  ['projects', 'NAME'],
  ['projects', 'CREATED_AT'],
  ['deliverables', 'DUE_DATE'],
  ['deliverables', 'CREATED_AT'],
  ['clients', 'NAME'],
];

describe('walking every list in every order', () => {
  for (const [name, field] of WALKS) {
    for (const direction of ['ASC', 'DESC'] as const) {
      it(`${name} by ${field} ${direction}: forward and backward, every row once, in SQL order`, async () => {
        const l = lists[name] as ListDef;
        const expected = await expectedIds(l, l.orders[field] as string, direction);
        expect(expected.length).toBeGreaterThan(20);
        const orderBy = { field, direction };
        const size = name === 'posts' ? 9 : 4;
        expect(await walkForward(l, orderBy, size)).toEqual(expected);
        expect(await walkBackward(l, orderBy, size)).toEqual(expected);
      });
    }
  }

  it('defaults to 20 rows and reports the total only when asked', async () => {
    const l = lists.posts as ListDef;
    const total = await t.sql<{ n: number }>(
      `SELECT count(*)::int AS n FROM posts WHERE ${l.where}`,
    );
    const res = await t.gql(listQuery(l, 'totalCount'), { filter: l.filter }, { as: ADMIN });
    expect(res.data?.list.edges).toHaveLength(20);
    expect(res.data?.list.totalCount).toBe(total[0]?.n);
    expect(t.lastStatements().some((s) => /count\(\*\)/i.test(s.sql))).toBe(true);
    await page(l, { first: 19 });
    expect(t.lastStatements().length).toBeGreaterThan(0);
    expect(t.lastStatements().some((s) => /count\(\*\)/i.test(s.sql))).toBe(false);
  });
});

describe('writes between pages', () => {
  for (const field of ['CREATED_AT', 'UPDATED_AT', 'SCHEDULED_AT', 'TITLE']) {
    for (const direction of ['ASC', 'DESC'] as const) {
      it(`posts by ${field} ${direction}: rows that exist throughout appear exactly once, in order`, async () => {
        const l = lists.posts as ListDef;
        const col = l.orders[field] as string;
        const before = await expectedIds(l, col, direction);
        // Every 4th row is deleted during the walk (some already passed, some ahead).
        const victims = before.filter((_, i) => i % 4 === 1);
        const stable = before.filter((id) => !victims.includes(id));
        const inserted: number[] = [];
        const backup = `pagination_victims_${field.toLowerCase()}_${direction.toLowerCase()}`;
        await t.sql(`CREATE TABLE ${backup} AS SELECT * FROM posts WHERE id = ANY($1)`, [victims]);
        let step = 0;
        const between = async () => {
          step++;
          const v = victims.splice(((step * 7) % Math.max(victims.length, 1)) | 0, 1)[0];
          if (v !== undefined) await t.sql('DELETE FROM posts WHERE id = $1', [v]);
          const rows = await t.sql<{ id: number }>(
            `INSERT INTO posts (project_id, client_id, author_id, title, body, platform, created_at, updated_at, scheduled_at)
             SELECT project_id, client_id, author_id, 'Inserted ' || $1::int, '', platform,
                    now() - ($1::int % 5) * INTERVAL '90 days', now() - ($1::int % 3) * INTERVAL '90 days',
                    CASE WHEN $1::int % 2 = 0 THEN NULL ELSE now() END
             FROM posts WHERE client_id = $2 LIMIT 1 RETURNING id`,
            [step, CLIENT_ID],
          );
          inserted.push(...rows.map((r) => r.id));
        };
        const seen = await walkForward(l, { field, direction }, 9, between);
        expect(new Set(seen).size).toBe(seen.length);
        expect(seen.filter((id) => stable.includes(id))).toEqual(stable);
        // Leave the data as it was for the next walks.
        if (inserted.length) await t.sql('DELETE FROM posts WHERE id = ANY($1)', [inserted]);
        await t.sql('DELETE FROM posts WHERE id = ANY($1)', [victims]);
        await t.sql(`INSERT INTO posts SELECT * FROM ${backup}`);
        await t.sql(`DROP TABLE ${backup}`);
        expect(await expectedIds(l, col, direction)).toEqual(before);
      });
    }
  }

  for (const [field, direction] of [
    ['SCHEDULED_AT', 'ASC'],
    ['SCHEDULED_AT', 'DESC'],
    ['TITLE', 'ASC'],
    ['CREATED_AT', 'DESC'],
  ] as const) {
    it(`posts by ${field} ${direction}: the cursor row deleted, the next pages are still right`, async () => {
      const l = lists.posts as ListDef;
      const col = l.orders[field] as string;
      const all = await expectedIds(l, col, direction);
      // Cursor rows in the non-null and in the null segment for nullable keys.
      for (const at of [10, Math.min(all.length - 12, 95)]) {
        const expected = await expectedIds(l, col, direction);
        const first = await page(l, { first: at, orderBy: { field, direction } });
        const cursorRow = first.ids.at(-1) as number;
        await t.sql('DELETE FROM posts WHERE id = $1', [cursorRow]);
        const next = await page(l, {
          first: 5,
          after: first.pageInfo.endCursor,
          orderBy: { field, direction },
        });
        expect(next.ids).toEqual(expected.slice(at, at + 5));
        expect(next.pageInfo.hasPreviousPage).toBe(true);
        const back = await page(l, {
          last: 5,
          before: next.pageInfo.startCursor,
          orderBy: { field, direction },
        });
        expect(back.ids).toEqual(expected.slice(at - 6, at - 1));
      }
    });
  }
});

describe('pageInfo on the other side of the cursor is exact', () => {
  for (const [field, direction] of [
    ['SCHEDULED_AT', 'ASC'],
    ['SCHEDULED_AT', 'DESC'],
    ['TITLE', 'DESC'],
  ] as const) {
    it(`posts by ${field} ${direction}: hasPreviousPage / hasNextPage turn false when the rows beyond the cursor are gone`, async () => {
      const l = lists.posts as ListDef;
      const orderBy = { field, direction };
      const expected = await expectedIds(l, l.orders[field] as string, direction);
      const p1 = await page(l, { first: 6, orderBy });
      const last = await page(l, { last: 6, orderBy });
      expect(last.pageInfo.hasNextPage).toBe(false);
      expect(last.pageInfo.hasPreviousPage).toBe(true);
      const head = expected.slice(0, 6);
      const tail = expected.slice(-6);
      expect(p1.ids).toEqual(head);
      expect(last.ids).toEqual(tail);
      const backup = `pagination_exact_${field.toLowerCase()}_${direction.toLowerCase()}`;
      await t.sql(`CREATE TABLE ${backup} AS SELECT * FROM posts WHERE id = ANY($1)`, [
        [...head, ...tail],
      ]);
      try {
        const after = { first: 4, after: p1.pageInfo.endCursor, orderBy };
        expect((await page(l, after)).pageInfo.hasPreviousPage).toBe(true);
        const before = { last: 4, before: last.pageInfo.startCursor, orderBy };
        expect((await page(l, before)).pageInfo.hasNextPage).toBe(true);
        // Delete the first page (cursor row included) and the last page.
        await t.sql('DELETE FROM posts WHERE id = ANY($1)', [[...head, ...tail]]);
        const a = await page(l, after);
        expect(a.ids).toEqual(expected.slice(6, 10));
        expect(a.pageInfo.hasPreviousPage).toBe(false);
        const b = await page(l, before);
        expect(b.ids).toEqual(expected.slice(-10, -6));
        expect(b.pageInfo.hasNextPage).toBe(false);
      } finally {
        await t.sql(`INSERT INTO posts SELECT * FROM ${backup} ON CONFLICT DO NOTHING`);
        await t.sql(`DROP TABLE ${backup}`);
      }
    });
  }
});

describe('nested connections', () => {
  const NESTED = `query($ids: [ID!]!, $first: Int, $orderBy: PostOrder, $dOrder: DeliverableOrder) {
    nodes(ids: $ids) { ... on Project { id
      posts(first: $first, orderBy: $orderBy) { edges { cursor node { id } } ${PAGE_INFO} }
      deliverables(first: $first, orderBy: $dOrder) { edges { cursor node { id } } ${PAGE_INFO} }
    } }
  }`;

  it('pages of project.posts and project.deliverables for several parents in one statement each', async () => {
    const projects = await t.sql<{ id: number }>('SELECT id FROM projects ORDER BY id LIMIT 4');
    const ids = projects.map((p) => gid('Project', p.id));
    for (const direction of ['ASC', 'DESC'] as const) {
      const res = await t.gql(
        NESTED,
        {
          ids,
          first: 3,
          orderBy: { field: 'SCHEDULED_AT', direction },
          dOrder: { field: 'DUE_DATE', direction },
        },
        { as: ADMIN },
      );
      expect(res.errors).toBeUndefined();
      const pageSqls = t.lastStatements().filter((s) => /LATERAL/.test(s.sql));
      expect(pageSqls).toHaveLength(2);
      for (const [i, p] of projects.entries()) {
        const node = res.data?.nodes[i];
        const posts = await expectedIds(
          lists.posts as ListDef,
          'scheduled_at',
          direction,
          `project_id = ${p.id}`,
        );
        expect(node.posts.edges.map((e: { node: { id: string } }) => rawId(e.node.id))).toEqual(
          posts.slice(0, 3),
        );
        expect(node.posts.pageInfo.hasNextPage).toBe(posts.length > 3);
        expect(node.posts.pageInfo.hasPreviousPage).toBe(false);
        const dels = await expectedIds(
          lists.deliverables as ListDef,
          'due_date',
          direction,
          `project_id = ${p.id}`,
        );
        expect(
          node.deliverables.edges.map((e: { node: { id: string } }) => rawId(e.node.id)),
        ).toEqual(dels.slice(0, 3));
      }
    }
  });

  it('walks project.posts of two parents at once (aliases), and client.projects, to the end', async () => {
    const projects = await t.sql<{ id: number }>(
      'SELECT project_id AS id FROM posts GROUP BY 1 ORDER BY count(*) DESC LIMIT 2',
    );
    const [a, b] = projects.map((p) => p.id) as [number, number];
    const q = `query($a: ID!, $b: ID!, $ca: String, $cb: String, $o: PostOrder) {
      a: node(id: $a) { ... on Project { posts(first: 7, after: $ca, orderBy: $o) { edges { node { id } } ${PAGE_INFO} } } }
      b: node(id: $b) { ... on Project { posts(first: 7, after: $cb, orderBy: $o) { edges { node { id } } ${PAGE_INFO} } } }
    }`;
    for (const field of ['TITLE', 'SCHEDULED_AT']) {
      const o = { field, direction: 'DESC' };
      const col = field === 'TITLE' ? 'title' : 'scheduled_at';
      const want = {
        a: await expectedIds(lists.posts as ListDef, col, 'DESC', `project_id = ${a}`),
        b: await expectedIds(lists.posts as ListDef, col, 'DESC', `project_id = ${b}`),
      };
      const got = { a: [] as number[], b: [] as number[] };
      let ca: string | null = null;
      let cb: string | null = null;
      let moreA = true;
      let moreB = true;
      for (let n = 0; n < 200 && (moreA || moreB); n++) {
        const res: GqlResult = await t.gql(
          q,
          { a: gid('Project', a), b: gid('Project', b), ca, cb, o },
          { as: ADMIN },
        );
        expect(res.errors).toBeUndefined();
        const pa: Omit<Page, 'ids'> = res.data?.a.posts;
        const pb: Omit<Page, 'ids'> = res.data?.b.posts;
        if (moreA) got.a.push(...pa.edges.map((e: { node: { id: string } }) => rawId(e.node.id)));
        if (moreB) got.b.push(...pb.edges.map((e: { node: { id: string } }) => rawId(e.node.id)));
        moreA = moreA && pa.pageInfo.hasNextPage;
        moreB = moreB && pb.pageInfo.hasNextPage;
        ca = moreA ? pa.pageInfo.endCursor : ca;
        cb = moreB ? pb.pageInfo.endCursor : cb;
      }
      expect(got).toEqual(want);
    }

    // client.projects, walked backward by due date.
    const cq = `query($id: ID!, $c: String, $o: ProjectOrder) {
      node(id: $id) { ... on Client { projects(last: 6, before: $c, orderBy: $o) { edges { node { id } } ${PAGE_INFO} } } }
    }`;
    const want = await expectedIds(lists.projects as ListDef, 'due_date', 'ASC');
    const got: number[] = [];
    let c: string | null = null;
    for (let n = 0; n < 100; n++) {
      const res: GqlResult = await t.gql(
        cq,
        { id: gid('Client', CLIENT_ID), c, o: { field: 'DUE_DATE', direction: 'ASC' } },
        { as: ADMIN },
      );
      expect(res.errors).toBeUndefined();
      const conn: Omit<Page, 'ids'> = res.data?.node.projects;
      got.unshift(...conn.edges.map((e: { node: { id: string } }) => rawId(e.node.id)));
      expect(conn.pageInfo.hasNextPage).toBe(n > 0);
      if (!conn.pageInfo.hasPreviousPage) break;
      c = conn.pageInfo.startCursor;
    }
    expect(got).toEqual(want);
  });
});

describe('arguments refused with BAD_USER_INPUT naming the argument', () => {
  async function refused(query: string, vars: Record<string, unknown>, argName: string) {
    const res = await t.gql(query, vars, { as: ADMIN });
    expect(res.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(res.errors?.[0]?.extensions?.field).toBe(argName);
    expect(res.errors?.[0]?.message).toContain(`\`${argName}\``);
    return res.errors?.[0]?.message as string;
  }

  it('tampered cursors and cursors from another list, order, direction or parent', async () => {
    const l = lists.posts as ListDef;
    const q = listQuery(l);
    const orderBy = { field: 'TITLE', direction: 'ASC' };
    const p = await page(l, { first: 3, orderBy });
    const cursor = p.pageInfo.endCursor as string;
    // Flip one character in the body, in the signature, and use a non-ASCII character.
    const flip = (s: string, i: number) =>
      s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    for (const bad of [
      flip(cursor, 3),
      flip(cursor, cursor.length - 2),
      `${cursor.slice(0, -1)}é`,
      'x',
      '',
    ]) {
      const msg = await refused(q, { filter: l.filter, first: 3, after: bad, orderBy }, 'after');
      expect(msg).toMatch(/not a valid cursor/);
      await refused(q, { filter: l.filter, last: 3, before: bad, orderBy }, 'before');
    }
    // Another sort order, another direction.
    await refused(
      q,
      {
        filter: l.filter,
        first: 3,
        after: cursor,
        orderBy: { field: 'CREATED_AT', direction: 'ASC' },
      },
      'after',
    );
    await refused(
      q,
      { filter: l.filter, first: 3, after: cursor, orderBy: { field: 'TITLE', direction: 'DESC' } },
      'after',
    );
    // Another list.
    const pl = lists.projects as ListDef;
    await refused(
      listQuery(pl),
      { filter: pl.filter, first: 3, after: cursor, orderBy: { field: 'NAME', direction: 'ASC' } },
      'after',
    );
    // Another parent.
    const projects = await t.sql<{ id: number }>('SELECT id FROM projects ORDER BY id LIMIT 2');
    const nq = `query($id: ID!, $c: String) { node(id: $id) { ... on Project { posts(first: 2, after: $c) { ${PAGE_INFO} } } } }`;
    const r1 = await t.gql(nq, { id: gid('Project', projects[0]?.id as number) }, { as: ADMIN });
    const foreign = r1.data?.node.posts.pageInfo.endCursor;
    expect(foreign).toEqual(expect.any(String));
    const ok = await t.gql(
      nq,
      { id: gid('Project', projects[0]?.id as number), c: foreign },
      { as: ADMIN },
    );
    expect(ok.errors).toBeUndefined();
    await refused(nq, { id: gid('Project', projects[1]?.id as number), c: foreign }, 'after');
    // A nested cursor on the root list.
    await refused(q, { filter: l.filter, first: 3, after: foreign }, 'after');
  });

  it('a page read again has the same cursors; after a new secret they are signed anew and old ones refused', async () => {
    const l = lists.posts as ListDef;
    const q = listQuery(l);
    const orderBy = { field: 'CREATED_AT', direction: 'DESC' };
    const cursors = async () =>
      (await page(l, { first: 5, orderBy })).edges.map((e: { cursor: string }) => e.cursor);
    const first = await cursors();
    expect(first).toHaveLength(5);
    expect(await cursors()).toEqual(first);
    // A restart with another JWT_SECRET: cursors made since (recently made ones are kept in
    // memory) carry the new signature, and the old ones are refused.
    setCursorSecret('another-secret-another-secret-another-secret');
    try {
      const rotated = await cursors();
      for (const [i, c] of rotated.entries()) expect(c).not.toBe(first[i]);
      const msg = await refused(
        q,
        { filter: l.filter, first: 3, after: first[4], orderBy },
        'after',
      );
      expect(msg).toMatch(/not a valid cursor/);
      const next = await t.gql(
        q,
        { filter: l.filter, first: 3, after: rotated[4], orderBy },
        { as: ADMIN },
      );
      expect(next.errors).toBeUndefined();
    } finally {
      setCursorSecret(t.app.services.config.jwtSecret);
    }
    expect(await cursors()).toEqual(first);
  });

  it('first + last, page sizes out of range, and mismatched cursor directions', async () => {
    const l = lists.posts as ListDef;
    const q = listQuery(l);
    await refused(q, { first: 2, last: 2 }, 'first');
    await refused(q, { first: 101 }, 'first');
    await refused(q, { last: 101 }, 'last');
    await refused(q, { last: -1 }, 'last');
    await refused(q, { first: -1 }, 'first');
    const p = await page(l, { first: 2 });
    await refused(q, { first: 2, before: p.pageInfo.endCursor }, 'before');
    await refused(q, { last: 2, after: p.pageInfo.endCursor }, 'after');
    expect((await page(l, { first: 100 })).ids).toHaveLength(100);
  });

  it('offset up to 1000 works and composes with cursors; beyond, the error points to cursors', async () => {
    const l = lists.posts as ListDef;
    const q = listQuery(l);
    const msg = await refused(q, { first: 5, offset: 1001 }, 'offset');
    expect(msg).toMatch(/cursor/);
    await refused(q, { first: 5, offset: -1 }, 'offset');
    const orderBy = { field: 'SCHEDULED_AT', direction: 'ASC' };
    const expected = await expectedIds(l, 'scheduled_at', 'ASC');
    const p1 = await page(l, { first: 5, offset: 10, orderBy });
    expect(p1.ids).toEqual(expected.slice(10, 15));
    expect(p1.pageInfo.hasPreviousPage).toBe(true);
    const p2 = await page(l, { first: 5, offset: 20, after: p1.pageInfo.endCursor, orderBy });
    expect(p2.ids).toEqual(expected.slice(35, 40));
    const back = await page(l, { last: 5, offset: 3, before: p2.pageInfo.startCursor, orderBy });
    expect(back.ids).toEqual(expected.slice(27, 32));
    expect(back.pageInfo.hasNextPage).toBe(true);
    const far = await page(l, { first: 5, offset: 1000, orderBy });
    expect(far.ids).toEqual(expected.slice(1000, 1005));
    expect(far.pageInfo.hasPreviousPage).toBe(expected.length > 0);
  });
});

// ---- EXPLAIN of the SQL the API issues, on realistic volumes -----------------------------

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

/** The SQL text and parameters of every statement, captured below the query log. */
const captured: { text: string; values: unknown[] }[] = [];
let capturing = false;
const originalQuery = TimedClient.prototype.query;
// biome-ignore lint/suspicious/noExplicitAny: pg's overloaded query signature
TimedClient.prototype.query = function (this: TimedClient, ...args: any[]): any {
  const a = args[0];
  if (capturing && a && typeof a === 'object' && typeof a.text === 'string') {
    captured.push({ text: a.text, values: a.values ?? [] });
  } else if (capturing && typeof a === 'string') {
    captured.push({ text: a, values: Array.isArray(args[1]) ? args[1] : [] });
  }
  return originalQuery.apply(this, args as never);
};

/**
 * Problems in a plan: scans that are not ordered index scans, sorts over unbounded input. A
 * sort of rows a LIMIT already bounded (numbering a page, merging null segments) is fine.
 */
function planProblems(node: PlanNode, underLimit = false, path = ''): string[] {
  const type = node['Node Type'];
  const here = `${path}/${type}${node['Index Name'] ? `(${node['Index Name']})` : ''}`;
  const problems: string[] = [];
  if (/Seq Scan|Bitmap/.test(type)) problems.push(`${here}: not an ordered index scan`);
  if (type === 'Sort') {
    // A sort may only see rows that already passed a LIMIT (the few-hundred-row merge of segments).
    const unbounded = (n: PlanNode): boolean =>
      n['Node Type'] !== 'Limit' &&
      (/^(Seq Scan|Index Scan|Index Only Scan|Bitmap Heap Scan)$/.test(n['Node Type'])
        ? true
        : (n.Plans ?? []).some(unbounded));
    if ((node.Plans ?? []).some(unbounded)) problems.push(`${here}: sorts rows no LIMIT bounds`);
  }
  for (const child of node.Plans ?? []) {
    problems.push(...planProblems(child, underLimit || type === 'Limit', here));
  }
  return problems;
}

function indexScans(node: PlanNode): string[] {
  const own = /Index/.test(node['Node Type']) ? [node['Index Name'] ?? '?'] : [];
  return [...own, ...(node.Plans ?? []).flatMap(indexScans)];
}

async function explainIssued(query: string, vars: Record<string, unknown>) {
  captured.length = 0;
  capturing = true;
  const res = await t.gql(query, vars, { as: ADMIN });
  capturing = false;
  expect(res.errors).toBeUndefined();
  const pages = captured.filter((s) => /AS seg/.test(s.text));
  expect(pages.length).toBeGreaterThan(0);
  const plans: PlanNode[] = [];
  for (const s of pages) {
    const [row] = await t.sql<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
      `EXPLAIN (FORMAT JSON) ${s.text}`,
      s.values,
    );
    const plan = row?.['QUERY PLAN'][0]?.Plan;
    if (!plan) throw new Error('no plan');
    plans.push(plan);
  }
  return { res, plans };
}

describe('EXPLAIN of each list query shape', () => {
  let author = 0;
  beforeAll(async () => {
    // Realistic volumes: on tiny tables the planner rightly prefers a sequential scan.
    await t.sql(
      `INSERT INTO clients (name, slug, industry, updated_at)
       SELECT 'Bulk client ' || g, 'bulk-client-' || g, 'Retail', now() FROM generate_series(1, 3000) g`,
    );
    await t.sql(
      `INSERT INTO projects (client_id, name, due_date, created_at, updated_at)
       SELECT c.id, 'Bulk project ' || g, CASE WHEN g % 5 = 0 THEN NULL ELSE DATE '2027-01-01' + (g % 300) END,
              now() - g * INTERVAL '1 minute', now()
       FROM generate_series(1, 6000) g
       JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM clients) c
         ON c.n = g % (SELECT count(*) FROM clients)`,
    );
    await t.sql(
      `INSERT INTO deliverables (project_id, client_id, title, kind, due_date, created_at, updated_at)
       SELECT p.id, p.client_id, 'Bulk deliverable ' || g, 'post',
              CASE WHEN g % 4 = 0 THEN NULL ELSE DATE '2027-01-01' + (g % 200) END, now() - g * INTERVAL '1 minute', now()
       FROM generate_series(1, 20000) g
       JOIN (SELECT id, client_id, row_number() OVER (ORDER BY id) - 1 AS n FROM projects) p
         ON p.n = g % (SELECT count(*) FROM projects)`,
    );
    const users = await t.sql<{ id: number }>('SELECT id FROM users ORDER BY id');
    author = users[0]?.id ?? 0;
    await t.sql(
      `INSERT INTO posts (project_id, client_id, author_id, title, body, platform, status, created_at, updated_at, scheduled_at)
       SELECT p.id, p.client_id, (SELECT array_agg(id) FROM users)[1 + g % (SELECT count(*) FROM users)::int],
              'Bulk post ' || md5(g::text), 'body',
              (ARRAY['INSTAGRAM','FACEBOOK','LINKEDIN','X','TIKTOK','BLOG']::"Platform"[])[1 + g % 6],
              (ARRAY['DRAFT','IN_REVIEW','APPROVED','SCHEDULED','PUBLISHED','ARCHIVED']::"PostStatus"[])[1 + g % 6],
              now() - g * INTERVAL '1 minute', now() - g * INTERVAL '30 seconds',
              CASE WHEN g % 3 = 0 THEN NULL ELSE now() + (g % 1000) * INTERVAL '1 hour' END
       FROM generate_series(1, 40000) g
       JOIN (SELECT id, client_id, row_number() OVER (ORDER BY id) - 1 AS n FROM projects) p
         ON p.n = g % (SELECT count(*) FROM projects)`,
    );
    await t.sql('VACUUM ANALYZE');
  }, 300_000);

  async function checkShape(label: string, query: string, vars: Record<string, unknown>) {
    // The first page and a page after a cursor (adds the cursor condition and the probe).
    const first = await explainIssued(query, vars);
    const endCursor = findEndCursor(first.res.data);
    const shapes = [first.plans];
    if (endCursor) shapes.push((await explainIssued(query, { ...vars, after: endCursor })).plans);
    for (const plans of shapes) {
      for (const plan of plans) {
        // The page (Limit / Nested Loop / Subquery Scan) under the aggregate that builds its rows.
        expect(plan['Node Type'], label).toMatch(/Aggregate|Limit|Nested Loop|Subquery Scan/);
        expect(planProblems(plan), label).toEqual([]);
        expect(indexScans(plan).length, label).toBeGreaterThan(0);
      }
    }
  }

  function findEndCursor(data: unknown): string | null {
    if (!data || typeof data !== 'object') return null;
    for (const [k, v] of Object.entries(data)) {
      if (k === 'endCursor' && typeof v === 'string') return v;
      const inner = findEndCursor(v);
      if (inner) return inner;
    }
    return null;
  }

  const postOrders = ['CREATED_AT', 'UPDATED_AT', 'SCHEDULED_AT', 'TITLE'];
  const dirs = ['ASC', 'DESC'] as const;

  it('posts: every order x direction x common filter', async () => {
    const filters: Record<string, Record<string, unknown>> = {
      none: {},
      statusPlatform: { status: ['PUBLISHED'], platform: ['LINKEDIN'] },
      clientId: { clientId: gid('Client', CLIENT_ID) },
      projectId: { projectId: gid('Project', PROJECT_ID) },
      authorId: { authorId: gid('User', author) },
    };
    const q = `query($after: String, $filter: PostFilter, $orderBy: PostOrder) {
      posts(first: 20, after: $after, filter: $filter, orderBy: $orderBy) { edges { node { id } } ${PAGE_INFO} } }`;
    for (const field of postOrders) {
      for (const direction of dirs) {
        for (const [name, filter] of Object.entries(filters)) {
          await checkShape(`posts ${field} ${direction} ${name}`, q, {
            filter,
            orderBy: { field, direction },
          });
        }
      }
    }
  }, 120_000);

  it('projects, deliverables and clients: every order x direction, unfiltered and by parent', async () => {
    const projects = `query($after: String, $filter: ProjectFilter, $orderBy: ProjectOrder) {
      projects(first: 20, after: $after, filter: $filter, orderBy: $orderBy) { edges { node { id } } ${PAGE_INFO} } }`;
    const deliverables = `query($after: String, $filter: DeliverableFilter, $orderBy: DeliverableOrder) {
      deliverables(first: 20, after: $after, filter: $filter, orderBy: $orderBy) { edges { node { id } } ${PAGE_INFO} } }`;
    const clients = `query($after: String, $orderBy: ClientOrder) {
      clients(first: 20, after: $after, orderBy: $orderBy) { edges { node { id } } ${PAGE_INFO} } }`;
    for (const direction of dirs) {
      for (const field of ['DUE_DATE', 'NAME', 'CREATED_AT']) {
        for (const filter of [{}, { clientId: gid('Client', CLIENT_ID) }]) {
          await checkShape(`projects ${field} ${direction}`, projects, {
            filter,
            orderBy: { field, direction },
          });
        }
      }
      for (const field of ['DUE_DATE', 'CREATED_AT']) {
        for (const filter of [{}, { projectId: gid('Project', PROJECT_ID) }]) {
          await checkShape(`deliverables ${field} ${direction}`, deliverables, {
            filter,
            orderBy: { field, direction },
          });
        }
      }
      await checkShape(`clients NAME ${direction}`, clients, {
        orderBy: { field: 'NAME', direction },
      });
    }
  }, 120_000);

  it('nested: project.posts, project.deliverables and client.projects for several parents', async () => {
    const projectIds = (
      await t.sql<{ id: number }>('SELECT id FROM projects ORDER BY id DESC LIMIT 5')
    ).map((p) => gid('Project', p.id));
    const clientIds = (
      await t.sql<{ id: number }>('SELECT id FROM clients ORDER BY id DESC LIMIT 5')
    ).map((c) => gid('Client', c.id));
    for (const direction of dirs) {
      for (const field of postOrders) {
        await checkShape(
          `project.posts ${field} ${direction}`,
          `query($ids: [ID!]!, $o: PostOrder) { nodes(ids: $ids) { ... on Project {
            posts(first: 10, orderBy: $o) { edges { node { id } } } } } }`,
          { ids: projectIds, o: { field, direction } },
        );
      }
      for (const field of ['DUE_DATE', 'CREATED_AT']) {
        await checkShape(
          `project.deliverables ${field} ${direction}`,
          `query($ids: [ID!]!, $o: DeliverableOrder) { nodes(ids: $ids) { ... on Project {
            deliverables(first: 10, orderBy: $o) { edges { node { id } } } } } }`,
          { ids: projectIds, o: { field, direction } },
        );
      }
      for (const field of ['DUE_DATE', 'NAME', 'CREATED_AT']) {
        await checkShape(
          `client.projects ${field} ${direction}`,
          `query($ids: [ID!]!, $o: ProjectOrder) { nodes(ids: $ids) { ... on Client {
            projects(first: 10, orderBy: $o) { edges { node { id } } } } } }`,
          { ids: clientIds, o: { field, direction } },
        );
      }
    }
    // With a cursor, through one parent (a cursor is bound to its parent).
    for (const field of postOrders) {
      await checkShape(
        `project.posts ${field} after`,
        `query($id: ID!, $after: String, $o: PostOrder) { node(id: $id) { ... on Project {
          posts(first: 10, after: $after, orderBy: $o) { edges { node { id } } ${PAGE_INFO} } } } }`,
        { id: projectIds[0], o: { field, direction: 'ASC' } },
      );
    }
  }, 120_000);
});
