/**
 * Compiled execution (src/execution/jit.ts) is invisible to clients: an operation answers the
 * same on its first run (interpreted) and on later runs (compiled), data and errors alike.
 */
import { describe, expect, it } from 'vitest';
import { ADMIN, CLIENT1 } from './fixtures.ts';
import { gid, useTestApp } from './harness.ts';

const t = await useTestApp();

const cases: { name: string; query: string; variables?: Record<string, unknown>; as?: string }[] = [
  {
    name: 'feed with relations, cursors and pageInfo',
    query: `query Feed($n: Int!) { posts(first: $n) { totalCount edges { cursor node { id title
        status scheduledAt tags project { name dueDate client { name } } author { name email } } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`,
    variables: { n: 7 },
    as: ADMIN,
  },
  {
    name: 'node with fragments and aliases, as a client user',
    query: `query N($id: ID!) { a: node(id: $id) { id ...P } b: node(id: $id) { __typename } }
        fragment P on Post { title project { client { name } } }`,
    variables: { id: gid('Post', 1) },
    as: CLIENT1,
  },
  {
    name: 'a typed error on a field',
    query: 'mutation { login(input: { email: "nobody@postline.dev", password: "x" }) { token } }',
  },
  {
    name: 'an error for an unauthenticated field',
    query: '{ viewer { id } posts(first: 1) { edges { node { id } } } }',
  },
  {
    name: 'a variable that does not coerce',
    query: 'query V($s: PostStatus!) { posts(first: 1, filter: { status: [$s] }) { totalCount } }',
    variables: { s: 'NOPE' },
    as: ADMIN,
  },
  {
    name: 'a bad cursor',
    query: '{ posts(first: 2, after: "forged") { edges { node { id } } } }',
    as: ADMIN,
  },
];

describe('first and later runs of an operation answer the same', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const runs = [];
      for (let i = 0; i < 3; i++) {
        const res = await t.gql(c.query, c.variables, c.as ? { as: c.as } : {});
        runs.push({ status: res.status, data: res.data, errors: res.errors });
      }
      expect(runs[1]).toEqual(runs[0]);
      expect(runs[2]).toEqual(runs[0]);
      for (const e of runs[0]?.errors ?? []) {
        if (e.path) expect(e).toHaveProperty('locations');
      }
    });
  }
});
