import type DataLoader from 'dataloader';
import type pg from 'pg';
import type { AuthServices } from './auth/services.ts';
import type { TokenService, Viewer } from './auth/tokens.ts';
import type { CacheInvalidator } from './cache/writes.ts';
import type { Config } from './config.ts';
import type { PrismaClient } from './db/prisma.ts';
import type { Logger, RequestLogger } from './observability/logger.ts';

/** Long-lived services shared by every request of one process. */
export interface Services {
  config: Config;
  pool: pg.Pool;
  prisma: PrismaClient;
  tokens: TokenService;
  logger: Logger;
  /** Clears cached responses after writes (set when the process runs a response cache). */
  cache?: CacheInvalidator | null;
  /** Token revocation and login throttling (set by createApp; the API's only). */
  auth?: AuthServices;
}

/** What every resolver receives. Built once per request. */
export interface Context extends Services {
  viewer: Viewer | null;
  requestId: string;
  /** The request's logger (`requestId` bound), made on first use. */
  log: RequestLogger;
  request: Request;
  /** Records the list partitions this response reads, for cache invalidation (cache/tags.ts). */
  recordCacheTags(tags: readonly string[]): void;
  /** Per-request DataLoaders, keyed by field position and arguments. */
  loaders: Map<string, DataLoader<unknown, unknown>>;
}
