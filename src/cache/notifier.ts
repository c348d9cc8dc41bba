/**
 * Cache invalidation for processes that write but serve no GraphQL (separate job workers):
 * they clear the shared Redis store directly when there is one, and always publish on the
 * NOTIFY channel that API processes with in-memory stores listen to.
 */
import type pg from 'pg';
import type { Config } from '../config.ts';
import type { Logger } from '../observability/logger.ts';
import { Broadcaster } from './broadcast.ts';
import { RedisStore } from './redis-store.ts';
import type { CacheInvalidator } from './writes.ts';

export class WriteNotifier implements CacheInvalidator {
  readonly #broadcaster: Broadcaster;
  readonly #redis: RedisStore | null;

  constructor(config: Config, pool: pg.Pool, logger: Logger) {
    this.#broadcaster = new Broadcaster(pool, `worker-${process.pid}`, logger);
    this.#redis =
      config.cache.mode === 'redis' && config.cache.redisUrl
        ? new RedisStore(config.cache.redisUrl, config.cache.redisPrefix)
        : null;
  }

  async invalidate(tags: Iterable<string>): Promise<void> {
    const list = [...new Set(tags)];
    if (list.length === 0) return;
    await Promise.all([this.#redis?.invalidate(list), this.#broadcaster.publish(list)]);
  }

  async close(): Promise<void> {
    await this.#redis?.close();
  }
}
