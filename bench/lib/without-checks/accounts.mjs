// Stand-in for src/auth/accounts.ts: a verified token is trusted until it expires (no
// revocation check), as before issue #12. Everything else is the real module.
import { AccountStatus as Real } from '../../../src/auth/accounts.ts';

export * from '../../../src/auth/accounts.ts';
export class AccountStatus extends Real {
  check(claims) {
    return { id: claims.id, role: claims.role, clientId: claims.clientId };
  }
}
