/**
 * Errors a client can act on. Each carries `extensions.code` and, for input errors,
 * `extensions.field` naming the argument or input field at fault. Anything else thrown
 * from a resolver is masked (see app.ts) and logged with the request id.
 */
import { GraphQLError } from 'graphql';

export type ErrorCode =
  | 'BAD_USER_INPUT'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'SERVICE_UNAVAILABLE'
  | 'TOO_MANY_REQUESTS';

export function typedError(
  code: ErrorCode,
  message: string,
  extra: Record<string, unknown> = {},
): GraphQLError {
  return new GraphQLError(message, { extensions: { code, ...extra } });
}

export const badInput = (field: string, message: string) =>
  typedError('BAD_USER_INPUT', message, { field });

export const notFound = (field: string, message: string) =>
  typedError('NOT_FOUND', message, { field });

export const unauthenticated = (message = 'Sign in first: send `Authorization: Bearer <token>`') =>
  typedError('UNAUTHENTICATED', message);

export const forbidden = (message: string) => typedError('FORBIDDEN', message);

export const serviceUnavailable = (message: string) => typedError('SERVICE_UNAVAILABLE', message);

/** HTTP 429 with `Retry-After`; `extensions.retryAfter` is the same number of seconds. */
export const tooManyRequests = (message: string, retryAfter: number) =>
  typedError('TOO_MANY_REQUESTS', message, {
    retryAfter,
    http: { status: 429, headers: { 'Retry-After': String(retryAfter) } },
  });
