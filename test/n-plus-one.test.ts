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
import { gid, useTestApp } from './harness.ts';

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
