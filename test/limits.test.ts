import { describe, expect, it } from 'vitest';
import { ADMIN } from './fixtures.ts';
import { useTestApp } from './harness.ts';

const t = await useTestApp({ MAX_QUERY_DEPTH: '6' });

describe('operation depth limit', () => {
  it('refuses an operation nested deeper than MAX_QUERY_DEPTH, before running it', async () => {
    const deep = `{ posts(first: 1) { edges { node { project { posts(first: 1) { edges { node { title } } } } } } } }`;
    const res = await t.gql(deep, {}, { as: ADMIN });
    expect(res.data ?? null).toBeNull();
    expect(res.status).toBe(400);
    expect(res.errors?.[0]?.message).toMatch(/nested 8 levels deep; the limit is 6/);
    expect(res.errors?.[0]?.extensions).toEqual({
      code: 'QUERY_TOO_COMPLEX',
      rule: 'depth',
      limit: 6,
      value: 8,
    });
    expect(t.lastStatements()).toEqual([]);
  });

  it('counts fragments and allows operations at the limit', async () => {
    const ok = `fragment P on Post { project { client { name } } }
      { posts(first: 1) { edges { node { ...P } } } }`;
    const res = await t.gql(ok, {}, { as: ADMIN });
    expect(res.errors).toBeUndefined();
    expect(res.data?.posts.edges[0].node.project.client.name).toEqual(expect.any(String));
  });
});
