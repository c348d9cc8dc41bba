/**
 * No N+1: the number of SQL statements a query issues depends on its shape, never on how many
 * rows it returns. Each shape runs with `first: 5` and `first: 100`; both must issue exactly the
 * number of statements stated here (counted by the pool's TimedClient for the request).
 * The read engine (src/read/) issues one statement per connection level: a page with its rows
 * and every to-one relation they select, one more per nested connection level (all parents at
 * once), and a count only where `totalCount` is selected.
 */
import { describe, expect, it } from 'vitest';
import { ADMIN, CLIENT1 } from './fixtures.ts';
import { createTestApp, gid, useTestApp } from './harness.ts';

// These shapes count statements at page size 100 on every level (100 × 100 × 100 rows), far
// past the default cost limit, which test/query-limits.test.ts covers.
const t = await useTestApp({ MAX_QUERY_COST: '100000000' });

interface Shape {
  query: string;
  /** Statements the shape issues, whatever the page size. */
  statements: number;
  /** Rows returned, to prove the two page sizes really differ in size. */
  rows: (data: Record<string, any>) => number;
  as?: string;
}

const edges = (c: { edges: { node: unknown }[] }) => c.edges.length;

const shapes: Record<string, Shape> = {
  // the page with its posts, their projects and the projects' clients
  'feed with project and client': {
    query: `query Feed($n: Int!) { posts(first: $n) { edges { node { id title
      project { name client { name } } } } } }`,
    statements: 1,
    rows: (d) => edges(d.posts),
  },
  // the same, plus the count
  'feed with project, client and totalCount': {
    query: `query Feed($n: Int!) { posts(first: $n) { totalCount edges { node { id title
      project { name client { name } } } } } }`,
    statements: 2,
    rows: (d) => edges(d.posts),
  },
  // the clients page, every client's project page (LATERAL), every project's post page with
  // the authors
  'client -> projects -> posts': {
    query: `query Tree($n: Int!) { clients(first: $n) { edges { node { name
      projects(first: $n) { edges { node { name
        posts(first: $n) { edges { node { title author { name } } } } } } } } } } }`,
    statements: 3,
    rows: (d) =>
      d.clients.edges
        .flatMap((c: any) => c.node.projects.edges)
        .reduce((n: number, p: any) => n + edges(p.node.posts), 0),
  },
  // the page with its deliverables, their assignees and projects
  'deliverables with assignee': {
    query: `query Work($n: Int!) { deliverables(first: $n) { edges { node { title
      assignee { name } project { name } } } } }`,
    statements: 1,
    rows: (d) => edges(d.deliverables),
  },
  // the analytics rollup's freshness check, four live aggregates (no rollup in the test
  // database), then the feed page beside it (page, count)
  dashboard: {
    query: `query Dashboard($n: Int!) {
      dashboardStats { postsByStatus { status count } postsByPlatform { platform count }
        projectsByStatus { status count } overdueDeliverables postsScheduledNext7Days }
      posts(first: $n) { totalCount edges { node { title } } } }`,
    statements: 7,
    rows: (d) => edges(d.posts),
  },
  // the projects page, its count, every project's post page (with authors) and deliverable
  // page, the post counts and the deliverable counts
  'nested totalCount': {
    query: `query Counts($n: Int!) { projects(first: $n) { totalCount edges { node { name
      posts(first: $n) { totalCount edges { node { title author { name } } } }
      deliverables(first: $n) { totalCount edges { node { title } } } } } } }`,
    statements: 6,
    rows: (d) =>
      d.projects.edges.reduce(
        (n: number, p: any) => n + edges(p.node.posts) + edges(p.node.deliverables),
        0,
      ),
  },
  // same feed for a client user: the scope is a WHERE condition, not extra statements
  'feed as a client user': {
    query: `query Feed($n: Int!) { posts(first: $n) { totalCount edges { node { id
      project { name client { name } } author { name } } } } }`,
    statements: 2,
    rows: (d) => edges(d.posts),
    as: CLIENT1,
  },
};

describe('SQL statements per query shape', () => {
  for (const [name, shape] of Object.entries(shapes)) {
    it(`${name}: ${shape.statements} statements for first: 5 and first: 100`, async () => {
      const counts: number[] = [];
      const rows: number[] = [];
      for (const n of [5, 100]) {
        const res = await t.gql(shape.query, { n }, { as: shape.as ?? ADMIN });
        expect(res.errors).toBeUndefined();
        counts.push(t.lastStatements().length);
        rows.push(shape.rows(res.data ?? {}));
      }
      expect(rows[1]).toBeGreaterThan(rows[0] as number);
      expect(counts).toEqual([shape.statements, shape.statements]);
    });
  }

  it('node(id) and nodes(ids) with relations: 1 statement for 1 or 8 posts', async () => {
    const fields = '... on Post { title project { name client { name } } author { name } }';
    const one = await t.gql(
      `query One($id: ID!) { node(id: $id) { ${fields} } }`,
      { id: gid('Post', 3) },
      { as: ADMIN },
    );
    expect(one.errors).toBeUndefined();
    expect(one.data?.node.project.client.name).toEqual(expect.any(String));
    // the post with its project, the project's client and the author
    expect(t.lastStatements()).toHaveLength(1);

    const many = await t.gql(
      `query Many($ids: [ID!]!) { nodes(ids: $ids) { ${fields} } }`,
      { ids: [1, 2, 3, 4, 5, 6, 7, 8].map((i) => gid('Post', i)) },
      { as: ADMIN },
    );
    expect(many.errors).toBeUndefined();
    expect(many.data?.nodes.filter(Boolean)).toHaveLength(8);
    expect(t.lastStatements()).toHaveLength(1);
  });
});

/**
 * PostgreSQL plans a named statement afresh on each of its first five executions, then keeps a
 * generic plan only when that looks no costlier: a parameter in `LIMIT` or `= ANY($1)` makes
 * it re-plan on every execution, about a millisecond of planning for a sub-millisecond page.
 * The read engine's page and node statements must settle on a generic plan.
 */
describe('plan reuse', () => {
  it('the feed page, a deep page and node(id) keep one generic plan per statement', async () => {
    // One connection, so every execution (and pg_prepared_statements) is on the same session.
    const one = await createTestApp({
      DB_POOL_SIZE: '1',
      DB_POOL_MAX_OVERFLOW: '0',
      DB_POOL_MAX_PER_REQUEST: '1',
    });
    try {
      // Enough rows for the planner's estimates to matter (the fixtures hold a few dozen).
      await one.sql(`insert into posts (project_id, client_id, author_id, title, body, platform,
          status, created_at, updated_at)
        select p.project_id, p.client_id, p.author_id, p.title || ' #' || g, '', p.platform,
          p.status, p.created_at - g * interval '1 minute', now()
        from generate_series(1, 30000) g
        cross join lateral (select * from posts order by id offset (g % 10) limit 1) p`);
      await one.sql('analyze posts');
      const feed = `query Feed($n: Int!, $after: String) { posts(first: $n, after: $after,
        filter: { status: [DRAFT, SCHEDULED, PUBLISHED] }) {
        edges { cursor node { id title project { name client { name } } } } } }`;
      const first = await one.gql(feed, { n: 3 }, { as: ADMIN });
      const after = first.data?.posts.edges[0].cursor;
      expect(after).toEqual(expect.any(String));
      for (let i = 0; i < 8; i++) {
        for (const variables of [{ n: 3 }, { n: 3, after }]) {
          const res = await one.gql(feed, variables, { as: ADMIN });
          expect(res.errors).toBeUndefined();
        }
        const node = await one.gql(
          `query One($id: ID!) { node(id: $id) { ... on Post { title project { name } } } }`,
          { id: gid('Post', 1 + i) },
          { as: ADMIN },
        );
        expect(node.data?.node.title).toEqual(expect.any(String));
      }
      const { rows } = await one.pool.query<{
        statement: string;
        generic_plans: string;
        custom_plans: string;
      }>(
        `select statement, generic_plans, custom_plans from pg_prepared_statements
          where statement like '%json_agg%'`,
      );
      // the first page, the page after a cursor, the node lookup
      expect(rows.length).toBeGreaterThanOrEqual(3);
      for (const r of rows) {
        expect({ statement: r.statement.slice(0, 80), custom: Number(r.custom_plans) }).toEqual({
          statement: r.statement.slice(0, 80),
          custom: expect.toSatisfy((n: number) => n <= 5),
        });
        expect(Number(r.generic_plans)).toBeGreaterThanOrEqual(3);
      }
    } finally {
      await one.close();
    }
  });
});
