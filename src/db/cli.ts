/** Shared start-up for the database scripts: config, and the database they act on. */
import { ConfigError, loadConfig } from '../config.ts';
import { type DatabaseLocation, locateDatabase } from './database.ts';

export async function openForScript(): Promise<DatabaseLocation> {
  try {
    const config = loadConfig();
    return await locateDatabase(config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
}

export function fail(err: unknown): never {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
