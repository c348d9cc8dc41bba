/**
 * Verifies the bearer token once per request, first thing, so that everything after it —
 * the response cache lookup included — sees the verified viewer or nothing. An invalid
 * token never reaches the cache: the request fails with UNAUTHENTICATED when its context
 * is built.
 */
import type { Plugin } from 'graphql-yoga';
import type { TokenService, Viewer } from './tokens.ts';

type Verdict = { viewer: Viewer } | { invalid: true } | { anonymous: true };
const verdicts = new WeakMap<Request, Verdict>();

export function authenticationPlugin(tokens: TokenService): Plugin {
  return {
    async onRequest({ request }) {
      const header = request.headers.get('authorization');
      if (!header) {
        verdicts.set(request, { anonymous: true });
        return;
      }
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      const viewer = match?.[1] ? await tokens.verify(match[1]) : null;
      verdicts.set(request, viewer ? { viewer } : { invalid: true });
    },
  };
}

/** The verified viewer, or null (anonymous or invalid). */
export function viewerForRequest(request: Request): Viewer | null {
  const v = verdicts.get(request);
  return v && 'viewer' in v ? v.viewer : null;
}

/** True when the request carried a token that failed verification. */
export function hasInvalidToken(request: Request): boolean {
  const v = verdicts.get(request);
  return !!v && 'invalid' in v;
}
