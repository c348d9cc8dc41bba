import { describe, expect, it } from 'vitest';
import { ADMIN } from './fixtures.ts';
import { useTestApp } from './harness.ts';

const t = await useTestApp();

describe('smoke', () => {
  it('answers __typename without a token', async () => {
    const res = await t.gql('{ __typename }');
    expect(res.data).toEqual({ __typename: 'Query' });
  });

  it('lists posts with their project and client', async () => {
    const res = await t.gql(
      '{ posts(first: 5) { edges { node { id title project { name client { name } } } } } }',
      {},
      { as: ADMIN },
    );
    expect(res.errors).toBeUndefined();
    expect(res.data?.posts.edges).toHaveLength(5);
    expect(res.data?.posts.edges[0].node.project.client.name).toEqual(expect.any(String));
  });
});
