/** The per-process parts of sign-in: account status (revocation) and login throttling. */
import type { Config } from '../config.ts';
import type { Logger } from '../observability/logger.ts';
import { AccountStatus, type Queryable } from './accounts.ts';
import { LoginThrottle } from './login-throttle.ts';

export interface AuthServices {
  accounts: AccountStatus;
  throttle: LoginThrottle;
  /** Proxies in front of the server whose `X-Forwarded-For` entries are believed. */
  trustProxyHops: number;
  close(): Promise<void>;
}

export function createAuthServices(
  config: Pick<Config, 'auth'>,
  db: Queryable,
  logger: Logger,
): AuthServices {
  const throttle = new LoginThrottle(config.auth.throttle, logger);
  return {
    accounts: new AccountStatus(db, config.auth.recheckMs),
    throttle,
    trustProxyHops: config.auth.trustProxyHops,
    close: () => throttle.close(),
  };
}
