/** Shared start-up for the database scripts: config, and the database they act on. */
import { loadConfigOrExit } from '../config.ts';
import { type DatabaseLocation, locateDatabase } from './database.ts';

export function openForScript(): Promise<DatabaseLocation> {
  return locateDatabase(loadConfigOrExit());
}

export function fail(err: unknown): never {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
