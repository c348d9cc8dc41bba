/** Resolves where the database is: DATABASE_URL, or an embedded server under DATA_DIR. */
import path from 'node:path';
import type { Config } from '../config.ts';
import { type EmbeddedServer, ensureDatabase, startEmbeddedPostgres } from './embedded.ts';

export interface DatabaseLocation {
  url: string;
  embedded: EmbeddedServer | null;
}

export async function locateDatabase(
  config: Pick<Config, 'databaseUrl' | 'dataDir' | 'embeddedPgPort'>,
  log: (line: string) => void = () => {},
): Promise<DatabaseLocation> {
  if (config.databaseUrl) return { url: config.databaseUrl, embedded: null };
  const embedded = await startEmbeddedPostgres({
    dir: path.join(config.dataDir, 'postgres'),
    port: config.embeddedPgPort,
    log,
  });
  await ensureDatabase(embedded.adminUrl, 'postline');
  return { url: embedded.urlFor('postline'), embedded };
}
