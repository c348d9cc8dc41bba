/**
 * Every filter and every order of every list, checked against the equivalent SQL on the
 * test database: the same ids in the same order (walking all pages), and the same totalCount.
 * dashboardStats numbers are checked against SQL counts too.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ok } from './expect-error.ts';
import { ADMIN } from './fixtures.ts';
import { gid, rawId, useTestApp } from './harness.ts';

const t = await useTestApp();

type List = 'posts' | 'projects' | 'deliverables' | 'clients';
const TYPES: Record<List, { filter: string; order: string; table: string }> = {
  posts: { filter: 'PostFilter', order: 'PostOrder', table: 'posts' },
  projects: { filter: 'ProjectFilter', order: 'ProjectOrder', table: 'projects' },
  deliverables: { filter: 'DeliverableFilter', order: 'DeliverableOrder', table: 'deliverables' },
  clients: { filter: 'ClientFilter', order: 'ClientOrder', table: 'clients' },
};
const DEFAULT_ORDER: Record<List, string> = {
  posts: 'created_at DESC, id DESC',
  projects: 'created_at DESC, id DESC',
  deliverables: 'due_date ASC, id ASC',
  clients: 'name ASC, id ASC',
};

interface ListPage {
  list: {
    totalCount: number;
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
    edges: { node: { id: string } }[];
  };
}

/** Every id of a list, walking all pages of 100, plus the totalCount of each page. */
async function walk(
  list: List,
  filter: Record<string, unknown> | null,
  orderBy: { field: string; direction: string } | null = null,
) {
  const { filter: F, order: O } = TYPES[list];
  const ids: number[] = [];
  const totals = new Set<number>();
  let after: string | null = null;
  for (let page = 0; page < 50; page++) {
    const data: ListPage = ok<ListPage>(
      await t.gql(
        `query($after: String, $filter: ${F}, $orderBy: ${O}) {
          list: ${list}(first: 100, after: $after, filter: $filter, orderBy: $orderBy) {
            totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } }`,
        { after, filter, orderBy },
        { as: ADMIN },
      ),
    );
    totals.add(data.list.totalCount);
    ids.push(...data.list.edges.map((e) => rawId(e.node.id)));
    if (!data.list.pageInfo.hasNextPage) break;
    after = data.list.pageInfo.endCursor;
  }
  expect(totals.size).toBe(1);
  return { ids, totalCount: [...totals][0] as number };
}

async function sqlIds(list: List, where: string, params: unknown[], order = DEFAULT_ORDER[list]) {
  const rows = await t.sql<{ id: number }>(
    `SELECT id FROM ${TYPES[list].table} t WHERE ${where} ORDER BY ${order}`,
    params,
  );
  return rows.map((r) => r.id);
}

/** Asserts the API list equals the SQL, and that the filter is selective (not all or nothing). */
async function expectSameAsSql(
  list: List,
  filter: Record<string, unknown> | null,
  where: string,
  params: unknown[] = [],
  { allowEmpty = false } = {},
) {
  const expected = await sqlIds(list, where, params);
  const api = await walk(list, filter);
  expect(api.ids, JSON.stringify(filter)).toEqual(expected);
  expect(api.totalCount, JSON.stringify(filter)).toBe(expected.length);
  if (!allowEmpty)
    expect(expected.length, `${JSON.stringify(filter)} matches nothing`).toBeGreaterThan(0);
  const [{ n }] = await t.sql(`SELECT count(*)::int n FROM ${TYPES[list].table}`);
  if (filter && Object.keys(filter).length) {
    expect(expected.length, `${JSON.stringify(filter)} matches everything`).toBeLessThan(n);
  }
}

let project: number;
let client: number;
let author: number;
let assignee: number;

beforeAll(async () => {
  // The busiest project, client, author and assignee, so each filter selects a real subset.
  const top = async (sql: string) => (await t.sql(sql))[0].id as number;
  project = await top(
    'SELECT project_id id FROM posts GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1',
  );
  client = await top('SELECT client_id id FROM posts GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1');
  author = await top('SELECT author_id id FROM posts GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1');
  assignee = await top(
    'SELECT assignee_id id FROM deliverables WHERE assignee_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1',
  );
  // Titles with LIKE wildcards and a backslash, and near-misses that a wildcard would match.
  const ids = await t.sql('SELECT id FROM posts ORDER BY id LIMIT 8');
  const titles = [
    '50% off today',
    '50 percent off',
    'file_name tips',
    'filename tips',
    'C:\\path\\x',
    'C:pathx',
    '100%',
    '1000',
  ];
  for (const [i, title] of titles.entries()) {
    await t.sql('UPDATE posts SET title = $1 WHERE id = $2', [title, ids[i]?.id]);
  }
  await t.sql(
    "UPDATE clients SET name = 'Half_Price 100% Co' WHERE id = (SELECT min(id) FROM clients)",
  );
  await t.sql(
    "UPDATE clients SET name = 'HalfXPrice 1000 Co' WHERE id = (SELECT max(id) FROM clients)",
  );
});

describe('posts filters', () => {
  const now = Date.now();
  const iso = (days: number) => new Date(now + days * 86_400_000).toISOString();

  it('default (no filter)', () => expectSameAsSql('posts', null, 'TRUE'));
  it('status: one', () => expectSameAsSql('posts', { status: ['DRAFT'] }, "status = 'DRAFT'"));
  it('status: several', () =>
    expectSameAsSql(
      'posts',
      { status: ['SCHEDULED', 'IN_REVIEW'] },
      "status IN ('SCHEDULED', 'IN_REVIEW')",
    ));
  it('status and platform: empty lists mean no condition', async () => {
    const all = await sqlIds('posts', 'TRUE', []);
    expect((await walk('posts', { status: [], platform: [] })).ids).toEqual(all);
  });
  it('platform: one', () => expectSameAsSql('posts', { platform: ['X'] }, "platform = 'X'"));
  it('platform: several', () =>
    expectSameAsSql('posts', { platform: ['BLOG', 'TIKTOK'] }, "platform IN ('BLOG', 'TIKTOK')"));
  it('projectId', () =>
    expectSameAsSql('posts', { projectId: gid('Project', project) }, 'project_id = $1', [project]));
  it('clientId', () =>
    expectSameAsSql('posts', { clientId: gid('Client', client) }, 'client_id = $1', [client]));
  it('authorId', () =>
    expectSameAsSql('posts', { authorId: gid('User', author) }, 'author_id = $1', [author]));
  it('scheduledAfter (inclusive)', () =>
    expectSameAsSql('posts', { scheduledAfter: iso(7) }, 'scheduled_at >= $1', [iso(7)]));
  it('scheduledBefore (exclusive)', () =>
    expectSameAsSql('posts', { scheduledBefore: iso(3) }, 'scheduled_at < $1', [iso(3)]));
  it('scheduled range', () =>
    expectSameAsSql(
      'posts',
      { scheduledAfter: iso(1), scheduledBefore: iso(10) },
      'scheduled_at >= $1 AND scheduled_at < $2',
      [iso(1), iso(10)],
    ));
  it('scheduledAfter on the exact instant includes it, scheduledBefore excludes it', async () => {
    const [row] = await t.sql(
      'SELECT id, to_char(scheduled_at AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"\') at FROM posts WHERE scheduled_at IS NOT NULL ORDER BY id LIMIT 1',
    );
    expect((await walk('posts', { scheduledAfter: row.at })).ids).toContain(row.id);
    expect((await walk('posts', { scheduledBefore: row.at })).ids).not.toContain(row.id);
  });
  it('search: case-insensitive, title or body', () =>
    expectSameAsSql(
      'posts',
      { search: 'QUICK TIP' },
      "(title ILIKE '%quick tip%' OR body ILIKE '%quick tip%')",
    ));
  it('search: in the body', () =>
    expectSameAsSql('posts', { search: 'link in our bio' }, "body ILIKE '%link in our bio%'"));
  it('search: % is matched literally', async () => {
    await expectSameAsSql(
      'posts',
      { search: '50%' },
      "strpos(lower(title), '50%') > 0 OR strpos(lower(body), '50%') > 0",
    );
    const { ids } = await walk('posts', { search: '50%' });
    const titles = await t.sql('SELECT title FROM posts WHERE id = ANY($1)', [ids]);
    expect(titles).toEqual([{ title: '50% off today' }]);
    expect((await walk('posts', { search: '100%' })).ids).toHaveLength(1);
  });
  it('search: _ and \\ are matched literally', async () => {
    const underscore = await walk('posts', { search: 'file_name' });
    expect(await t.sql('SELECT title FROM posts WHERE id = ANY($1)', [underscore.ids])).toEqual([
      { title: 'file_name tips' },
    ]);
    const backslash = await walk('posts', { search: 'C:\\path' });
    expect(await t.sql('SELECT title FROM posts WHERE id = ANY($1)', [backslash.ids])).toEqual([
      { title: 'C:\\path\\x' },
    ]);
  });
  it('search: blank means no condition', async () => {
    const all = await sqlIds('posts', 'TRUE', []);
    expect((await walk('posts', { search: '   ' })).ids).toEqual(all);
  });
  it('everything combined', () =>
    expectSameAsSql(
      'posts',
      {
        status: ['PUBLISHED', 'DRAFT', 'SCHEDULED'],
        platform: ['INSTAGRAM', 'LINKEDIN', 'X'],
        clientId: gid('Client', client),
        search: 'e',
      },
      "status IN ('PUBLISHED', 'DRAFT', 'SCHEDULED') AND platform IN ('INSTAGRAM', 'LINKEDIN', 'X') AND client_id = $1 AND (title ILIKE '%e%' OR body ILIKE '%e%')",
      [client],
    ));
  it('contradicting filters give an empty list, not an error', () =>
    expectSameAsSql(
      'posts',
      { projectId: gid('Project', project), clientId: gid('Client', 999_999) },
      'FALSE',
      [],
      { allowEmpty: true },
    ));
});

describe('projects, deliverables and clients filters', () => {
  it('projects: clientId', () =>
    expectSameAsSql('projects', { clientId: gid('Client', client) }, 'client_id = $1', [client]));
  it('projects: status one and several', async () => {
    await expectSameAsSql('projects', { status: ['ACTIVE'] }, "status = 'ACTIVE'");
    await expectSameAsSql(
      'projects',
      { status: ['ON_HOLD', 'COMPLETED'] },
      "status IN ('ON_HOLD', 'COMPLETED')",
    );
  });
  it('projects: clientId and status', () =>
    expectSameAsSql(
      'projects',
      { clientId: gid('Client', client), status: ['ACTIVE', 'PLANNING', 'COMPLETED'] },
      "client_id = $1 AND status IN ('ACTIVE', 'PLANNING', 'COMPLETED')",
      [client],
    ));

  it('deliverables: projectId', () =>
    expectSameAsSql('deliverables', { projectId: gid('Project', project) }, 'project_id = $1', [
      project,
    ]));
  it('deliverables: status one and several', async () => {
    await expectSameAsSql('deliverables', { status: ['TODO'] }, "status = 'TODO'");
    await expectSameAsSql(
      'deliverables',
      { status: ['IN_REVIEW', 'DELIVERED'] },
      "status IN ('IN_REVIEW', 'DELIVERED')",
    );
  });
  it('deliverables: assigneeId', () =>
    expectSameAsSql('deliverables', { assigneeId: gid('User', assignee) }, 'assignee_id = $1', [
      assignee,
    ]));
  it('deliverables: dueBefore (exclusive)', async () => {
    const [{ d }] = await t.sql("SELECT to_char(current_date + 3, 'YYYY-MM-DD') d");
    await expectSameAsSql('deliverables', { dueBefore: d }, 'due_date < $1::date', [d]);
    const [row] = await t.sql(
      "SELECT id, to_char(due_date, 'YYYY-MM-DD') d FROM deliverables WHERE due_date IS NOT NULL ORDER BY id LIMIT 1",
    );
    expect((await walk('deliverables', { dueBefore: row.d })).ids).not.toContain(row.id);
  });
  it('deliverables: everything combined', () =>
    expectSameAsSql(
      'deliverables',
      {
        status: ['TODO', 'IN_PROGRESS', 'IN_REVIEW'],
        assigneeId: gid('User', assignee),
        dueBefore: '2100-01-01',
      },
      "status IN ('TODO', 'IN_PROGRESS', 'IN_REVIEW') AND assignee_id = $1 AND due_date < '2100-01-01'",
      [assignee],
    ));

  it('clients: status', async () => {
    // The test seed has four active clients; archive one so the filter has something to split.
    await t.sql("UPDATE clients SET status = 'ARCHIVED' WHERE id = (SELECT max(id) FROM clients)");
    await expectSameAsSql('clients', { status: ['ACTIVE'] }, "status = 'ACTIVE'");
    await expectSameAsSql('clients', { status: ['ARCHIVED'] }, "status = 'ARCHIVED'");
  });
  it('clients: search, case-insensitive, wildcards literal', async () => {
    await expectSameAsSql('clients', { search: 'half_price' }, "name ILIKE '%half\\_price%'");
    await expectSameAsSql('clients', { search: '100%' }, "strpos(name, '100%') > 0");
    await expectSameAsSql('clients', { search: '%' }, "strpos(name, '%') > 0");
  });
});

describe('orders', () => {
  const ORDERS: Record<List, Record<string, string>> = {
    posts: {
      CREATED_AT: 'created_at',
      UPDATED_AT: 'updated_at',
      SCHEDULED_AT: 'scheduled_at',
      TITLE: 'title',
    },
    projects: { DUE_DATE: 'due_date', NAME: 'name', CREATED_AT: 'created_at' },
    deliverables: { DUE_DATE: 'due_date', CREATED_AT: 'created_at' },
    clients: { NAME: 'name' },
  };
  const cases = Object.entries(ORDERS).flatMap(([list, fields]) =>
    Object.entries(fields).flatMap(([field, column]) =>
      ['ASC', 'DESC'].map((direction) => ({ list: list as List, field, column, direction })),
    ),
  );

  it.each(cases)('$list by $field $direction', async ({ list, field, column, direction }) => {
    // PostgreSQL's defaults: nulls last ascending, first descending; the id breaks ties.
    const expected = await sqlIds(list, 'TRUE', [], `${column} ${direction}, id ${direction}`);
    const api = await walk(list, null, { field, direction });
    expect(api.ids).toEqual(expected);
    expect(api.totalCount).toBe(expected.length);
  });

  it('an order combined with a filter', async () => {
    const expected = await sqlIds('posts', "status = 'SCHEDULED'", [], 'scheduled_at ASC, id ASC');
    const api = await walk(
      'posts',
      { status: ['SCHEDULED'] },
      { field: 'SCHEDULED_AT', direction: 'ASC' },
    );
    expect(api.ids).toEqual(expected);
  });

  it('the defaults', async () => {
    for (const list of Object.keys(TYPES) as List[]) {
      expect((await walk(list, null)).ids, list).toEqual(await sqlIds(list, 'TRUE', []));
    }
  });
});

describe('dashboardStats', () => {
  const QUERY = `query($c: ID) { dashboardStats(clientId: $c) {
    postsByStatus { status count } postsByPlatform { platform count }
    projectsByStatus { status count } overdueDeliverables postsScheduledNext7Days } }`;

  async function sqlStats(clientId: number | null) {
    const where = clientId === null ? 'TRUE' : 'client_id = $1';
    const params = clientId === null ? [] : [clientId];
    const pairs = async (sql: string) =>
      Object.fromEntries((await t.sql(sql, params)).map((r) => [r.k, r.n]));
    const [overdue] = await t.sql(
      `SELECT count(*)::int n FROM deliverables WHERE ${where} AND due_date < current_date
       AND status NOT IN ('APPROVED', 'DELIVERED')`,
      params,
    );
    const [next7] = await t.sql(
      `SELECT count(*)::int n FROM posts WHERE ${where}
       AND scheduled_at >= now() AND scheduled_at < now() + interval '7 days'`,
      params,
    );
    return {
      postsByStatus: await pairs(
        `SELECT status::text k, count(*)::int n FROM posts WHERE ${where} GROUP BY 1`,
      ),
      postsByPlatform: await pairs(
        `SELECT platform::text k, count(*)::int n FROM posts WHERE ${where} GROUP BY 1`,
      ),
      projectsByStatus: await pairs(
        `SELECT status::text k, count(*)::int n FROM projects WHERE ${where} GROUP BY 1`,
      ),
      overdueDeliverables: overdue.n,
      postsScheduledNext7Days: next7.n,
    };
  }

  const asMap = (rows: { count: number; [k: string]: unknown }[], key: string) =>
    Object.fromEntries(rows.map((r) => [r[key], r.count]));

  async function apiStats(clientId: number | null) {
    const s = ok(
      await t.gql(QUERY, { c: clientId === null ? null : gid('Client', clientId) }, { as: ADMIN }),
    ).dashboardStats;
    return {
      postsByStatus: asMap(s.postsByStatus, 'status'),
      postsByPlatform: asMap(s.postsByPlatform, 'platform'),
      projectsByStatus: asMap(s.projectsByStatus, 'status'),
      overdueDeliverables: s.overdueDeliverables,
      postsScheduledNext7Days: s.postsScheduledNext7Days,
    };
  }

  it('agency-wide numbers equal SQL counts', async () => {
    const expected = await sqlStats(null);
    expect(expected.overdueDeliverables).toBeGreaterThan(0);
    expect(expected.postsScheduledNext7Days).toBeGreaterThan(0);
    expect(await apiStats(null)).toEqual(expected);
  });

  it('one client’s numbers equal SQL counts', async () => {
    const expected = await sqlStats(client);
    expect(Object.keys(expected.postsByStatus).length).toBeGreaterThan(1);
    expect(await apiStats(client)).toEqual(expected);
  });
});
