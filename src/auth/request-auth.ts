/**
 * Verifies the bearer token once per request, first thing, so that everything after it —
 * the response cache lookup included — sees the verified viewer or nothing. An invalid or
 * revoked token never reaches the cache: the request fails with UNAUTHENTICATED when its
 * context is built. Revocation (accounts.ts) costs a Map lookup while the user's status is
 * fresh, and one small read per user and interval otherwise.
 */
import type { Plugin } from 'graphql-yoga';
import type { Logger } from '../observability/logger.ts';
import type { AccountStatus } from './accounts.ts';
import type { TokenService, Viewer } from './tokens.ts';

type Verdict = { viewer: Viewer } | { invalid: true } | { anonymous: true };
const verdicts = new WeakMap<Request, Verdict>();

export function authenticationPlugin(
  tokens: TokenService,
  accounts: AccountStatus,
  logger: Logger,
): Plugin {
  return {
    async onRequest({ request, endResponse, fetchAPI }) {
      const header = request.headers.get('authorization');
      if (!header) {
        verdicts.set(request, { anonymous: true });
        return;
      }
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      const claims = match?.[1] ? await tokens.verify(match[1]) : null;
      let viewer: Viewer | null = null;
      if (claims) {
        try {
          const checked = accounts.check(claims);
          // Fresh status: answered synchronously, no extra turn of the event loop.
          viewer = checked instanceof Promise ? await checked : checked;
        } catch (err) {
          // The account's status cannot be read: refuse rather than trust a token that may
          // have been revoked.
          logger.warn({ err }, 'account status unavailable; request refused');
          endResponse(
            fetchAPI.Response.json(
              {
                errors: [
                  {
                    message: 'The database is unavailable or busy; retry shortly',
                    extensions: { code: 'SERVICE_UNAVAILABLE' },
                  },
                ],
              },
              { status: 503 },
            ),
          );
          return;
        }
      }
      verdicts.set(request, viewer ? { viewer } : { invalid: true });
    },
  };
}

/** The verified viewer, or null (anonymous, invalid or revoked). */
export function viewerForRequest(request: Request): Viewer | null {
  const v = verdicts.get(request);
  return v && 'viewer' in v ? v.viewer : null;
}

/** True when the request carried a token that failed verification or was revoked. */
export function hasInvalidToken(request: Request): boolean {
  const v = verdicts.get(request);
  return !!v && 'invalid' in v;
}
