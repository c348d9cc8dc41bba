/** Assertions on GraphQL responses shared by the integration tests. */
import { expect } from 'vitest';
import type { GqlResult } from './harness.ts';

type GqlError = NonNullable<GqlResult['errors']>[number];

/**
 * Asserts the first error has `code` and, when given, names `field`. Input errors
 * (BAD_USER_INPUT, NOT_FOUND) must always name some field.
 */
export function expectError(res: GqlResult, code: string, field?: string): GqlError {
  expect(res.errors, `expected ${code}, got data ${JSON.stringify(res.data)}`).toBeDefined();
  const err = res.errors?.[0] as GqlError;
  expect(err.extensions?.code, err.message).toBe(code);
  if (field !== undefined) expect(err.extensions?.field, err.message).toBe(field);
  else if (code === 'BAD_USER_INPUT' || code === 'NOT_FOUND') {
    expect(err.extensions?.field).toEqual(expect.any(String));
  }
  return err;
}

/** Asserts the response has no error and returns its data. */
export function ok<T = Record<string, any>>(res: GqlResult<T>): T {
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  expect(res.data).not.toBeNull();
  return res.data as T;
}

/** Nothing of the internals (stack, SQL, library names) reaches the client. */
export function expectNoLeak(res: GqlResult): void {
  const text = JSON.stringify(res.errors ?? []);
  expect(text).not.toMatch(
    /stack|\.ts:\d+|node_modules|SELECT |INSERT |UPDATE "|prisma|postgres|relation "|column "|argon|jose|JWS|JWT/i,
  );
}
