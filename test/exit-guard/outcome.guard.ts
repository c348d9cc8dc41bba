/**
 * Run only by `npm run test:guard` (scripts/test-exit-guard.ts), never by `npm test`: the
 * include pattern is `test/**\/*.test.ts`. With POSTLINE_GUARD_OUTCOME=fail the test fails
 * after a real round trip through the app and the database, and the whole command must exit
 * non-zero; with `pass` it must exit 0.
 */
import { expect, it } from 'vitest';
import { ADMIN } from '../fixtures.ts';
import { useTestApp } from '../harness.ts';

const t = await useTestApp();

it('reads the seeded posts, then meets the expected outcome', async () => {
  const res = await t.gql('{ posts(first: 1) { edges { node { id } } } }', {}, { as: ADMIN });
  expect(res.data?.posts.edges).toHaveLength(1);
  const outcome = process.env.POSTLINE_GUARD_OUTCOME;
  expect(outcome, 'the deliberate failure of the exit-code guard').toBe('pass');
});
