/**
 * Cache invalidations between processes through PostgreSQL LISTEN/NOTIFY, for in-memory
 * stores: every API process listens, every writer (API or worker) publishes. With Redis the
 * store itself is shared and this is not needed.
 */
import pg from 'pg';
import type { Logger } from '../observability/logger.ts';

export const CHANNEL = 'postline_cache_invalidation';
const MAX_PAYLOAD = 7000;

export class Broadcaster {
  #client: pg.Client | null = null;
  #closed = false;

  constructor(
    readonly pool: pg.Pool,
    readonly instanceId: string,
    readonly logger: Logger,
  ) {}

  /** Publishes tags in chunks that fit NOTIFY's payload limit. */
  async publish(tags: string[]): Promise<void> {
    let chunk: string[] = [];
    let size = 0;
    const flush = async () => {
      if (!chunk.length) return;
      const payload = JSON.stringify({ from: this.instanceId, tags: chunk });
      chunk = [];
      size = 0;
      await this.pool.query('SELECT pg_notify($1, $2)', [CHANNEL, payload]).catch((err) => {
        this.logger.error({ err }, 'cache invalidation broadcast failed');
      });
    };
    for (const tag of tags) {
      if (size + tag.length + 4 > MAX_PAYLOAD) await flush();
      chunk.push(tag);
      size += tag.length + 4;
    }
    await flush();
  }

  /** Listens on a dedicated session; reconnects with backoff when it drops. */
  async listen(connectionString: string, onTags: (tags: string[]) => Promise<void>): Promise<void> {
    let delay = 250;
    const connect = async (): Promise<void> => {
      if (this.#closed) return;
      const client = new pg.Client({ connectionString, application_name: 'postline-cache-listen' });
      client.on('error', () => {});
      client.on('end', () => {
        if (this.#closed) return;
        this.logger.warn('cache invalidation listener disconnected; reconnecting');
        setTimeout(() => void connect().catch(() => {}), delay).unref();
        delay = Math.min(delay * 2, 10_000);
      });
      client.on('notification', (msg) => {
        if (msg.channel !== CHANNEL || !msg.payload) return;
        try {
          const { from, tags } = JSON.parse(msg.payload) as { from: string; tags: string[] };
          if (from !== this.instanceId && Array.isArray(tags)) void onTags(tags);
        } catch {
          // not ours
        }
      });
      try {
        await client.connect();
        await client.query(`LISTEN ${CHANNEL}`);
        this.#client = client;
        delay = 250;
      } catch (err) {
        this.logger.warn({ err }, 'cache invalidation listener could not connect; retrying');
        await client.end().catch(() => {});
      }
    };
    await connect();
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#client?.end().catch(() => {});
  }
}
