/**
 * Migrations with Prisma's own schema engine, run offline as WebAssembly.
 *
 * The Prisma CLI downloads a native engine on every command; `@prisma/schema-engine-wasm`
 * is the same engine published on npm. Migrations live in Prisma's standard layout
 * (`prisma/migrations/<timestamp>_<name>/migration.sql`) and are recorded in
 * `_prisma_migrations`, so `prisma migrate deploy` on a connected machine sees the same history.
 */

import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrismaPg } from '@prisma/adapter-pg';
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';
import type { SchemaEngine } from '@prisma/schema-engine-wasm';
import pg from 'pg';
import { parse as parseConnectionString } from 'pg-connection-string';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const schemaPath = path.join(root, 'prisma/schema.prisma');
export const migrationsDir = path.join(root, 'prisma/migrations');

/** Key of the advisory lock that serialises migration runs across processes. */
const MIGRATION_LOCK_KEY = 7_230_184_551;
const filters = { externalTables: [], externalEnums: [] };

type PgAdapter = Awaited<ReturnType<PrismaPg['connect']>>;
type MigrationList = Parameters<SchemaEngine['applyMigrations']>[0]['migrationsList'];

/**
 * The engine describes a database through catalog queries that return PostgreSQL's internal
 * `"char"` type (oid 18), which `@prisma/adapter-pg` refuses as unsupported. Its values arrive
 * as one-character strings, so reporting the column as `text` (oid 25) is exact.
 */
class CatalogFriendlyClient extends pg.Client {
  // biome-ignore lint/suspicious/noExplicitAny: pg's overloaded query signature
  override query(...args: any[]): any {
    const patch = (res: pg.QueryResult | undefined) => {
      for (const field of res?.fields ?? []) if (field.dataTypeID === 18) field.dataTypeID = 25;
      return res;
    };
    const last = args.length - 1;
    if (typeof args[last] === 'function') {
      const callback = args[last];
      args[last] = (err: Error | null, res: pg.QueryResult) => callback(err, patch(res));
    }
    // biome-ignore lint/suspicious/noExplicitAny: see above
    const result = (super.query as any)(...args);
    return result && typeof result.then === 'function' ? result.then(patch) : result;
  }
}

let lastPanic: string | undefined;
let engineModule: Promise<typeof import('@prisma/schema-engine-wasm')> | undefined;

/**
 * Instantiates the engine's WebAssembly by hand: importing the package directly needs
 * `--experimental-wasm-modules` on Node 20, and this works the same on every Node version.
 */
function loadEngine(): Promise<typeof import('@prisma/schema-engine-wasm')> {
  engineModule ??= (async () => {
    // The engine reports Rust panics through this global before trapping.
    const g = globalThis as { PRISMA_WASM_PANIC_REGISTRY?: { set_message(m: string): void } };
    g.PRISMA_WASM_PANIC_REGISTRY ??= {
      set_message(message: string) {
        lastPanic = message;
      },
    };
    const glue = (await import(
      '@prisma/schema-engine-wasm/schema_engine_bg'
    )) as typeof import('@prisma/schema-engine-wasm') & { __wbg_set_wasm(w: unknown): void };
    const require = createRequire(import.meta.url);
    const wasmPath = path.join(
      path.dirname(require.resolve('@prisma/schema-engine-wasm/schema_engine_bg')),
      'schema_engine_bg.wasm',
    );
    const { instance } = await WebAssembly.instantiate(await readFile(wasmPath), {
      './schema_engine_bg.js': glue as unknown as WebAssembly.ModuleImports,
    });
    glue.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
    return glue;
  })();
  return engineModule;
}

async function withEngine<T>(url: string, fn: (engine: SchemaEngine) => Promise<T>): Promise<T> {
  const schemaText = await readFile(schemaPath, 'utf8');
  const { SchemaEngine } = await loadEngine();
  // Our own pool, ended afterwards: the engine holds a session-level advisory lock while it
  // migrates, and a connection left open would keep the next run waiting for it.
  // Discrete fields rather than a connection string: the adapter derives the shadow
  // database's settings by overriding `database`, which a connection string would win over.
  const pool = new pg.Pool({ ...connectionFields(url), Client: CatalogFriendlyClient, max: 2 });
  pool.on('error', () => {});
  const adapter = bindMigrationAwareSqlAdapterFactory(
    new ShadowAwarePg(pool, connectionFields(url)),
  );
  const engine = await SchemaEngine.new(
    { datamodels: [['schema.prisma', schemaText]] },
    () => {},
    adapter,
  );
  try {
    return await fn(engine);
  } catch (err) {
    if (lastPanic) {
      const message = `Prisma schema engine panicked: ${lastPanic}`;
      lastPanic = undefined;
      throw new Error(message, { cause: err });
    }
    throw err;
  } finally {
    (engine as unknown as { free?: () => void }).free?.();
    await pool.end();
  }
}

/**
 * The adapter's own shadow database handling drops the database while its pool is still
 * connected (and, given a connection string, connects to the main database instead). This
 * creates the shadow database, ends its pool first, then drops it.
 */
class ShadowAwarePg extends PrismaPg {
  readonly #fields: pg.PoolConfig;
  constructor(pool: pg.Pool, fields: pg.PoolConfig) {
    super(pool);
    this.#fields = fields;
  }

  override async connect() {
    return wholeScripts(await super.connect());
  }

  override async connectToShadowDb() {
    const name = `prisma_shadow_${randomUUID().replaceAll('-', '')}`;
    const admin = async (sql: string) => {
      const client = new pg.Client(this.#fields);
      await client.connect();
      try {
        await client.query(sql);
      } finally {
        await client.end();
      }
    };
    await admin(`CREATE DATABASE "${name}"`);
    const shadowPool = new pg.Pool({
      ...this.#fields,
      database: name,
      Client: CatalogFriendlyClient,
      max: 2,
    });
    shadowPool.on('error', () => {});
    const adapter = wholeScripts(await new PrismaPg(shadowPool).connect());
    const dispose = adapter.dispose.bind(adapter);
    adapter.dispose = async () => {
      await dispose();
      await shadowPool.end();
      await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    };
    return adapter;
  }
}

/**
 * Prisma's native engine sends a migration to PostgreSQL whole; the adapter splits it at every
 * `;`, which cuts a function body (`$$ ... ; ... $$`) apart. PostgreSQL's simple query protocol
 * takes the whole script and runs it as one implicit transaction, as the native engine does.
 */
function wholeScripts(adapter: PgAdapter): PgAdapter {
  const driver = adapter.underlyingDriver();
  const failed = (adapter as unknown as { onError(err: unknown): never }).onError.bind(adapter);
  adapter.executeScript = async (script: string) => {
    try {
      await driver.query(script);
    } catch (err) {
      failed(err);
    }
  };
  return adapter;
}

function connectionFields(url: string): pg.PoolConfig {
  // libpq's URL forms, including a Unix socket (`postgresql://user@/db?host=/var/run/postgresql`),
  // which WHATWG URL parsing refuses (an empty host after user info).
  const c = parseConnectionString(url);
  const ssl = (c as { sslmode?: string }).sslmode;
  return {
    host: c.host || 'localhost',
    port: c.port ? Number(c.port) : 5432,
    user: c.user || undefined,
    password: c.password || undefined,
    database: c.database || undefined,
    ...(ssl && ssl !== 'disable' ? { ssl: { rejectUnauthorized: ssl === 'verify-full' } } : {}),
  };
}

/** Reads prisma/migrations into the shape the engine takes. */
export async function loadMigrations(dir = migrationsDir): Promise<MigrationList> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const names = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const lockPath = path.join(dir, 'migration_lock.toml');
  const lockContent = await readFile(lockPath, 'utf8').catch(() => 'provider = "postgresql"\n');
  return {
    baseDir: dir,
    lockfile: { path: 'migration_lock.toml', content: lockContent },
    shadowDbInitScript: '',
    migrationDirectories: await Promise.all(
      names.map(async (name) => ({
        path: name,
        migrationFile: {
          path: 'migration.sql',
          content: {
            tag: 'ok' as const,
            value: await readFile(path.join(dir, name, 'migration.sql'), 'utf8'),
          },
        },
      })),
    ),
  };
}

/**
 * Applies pending migrations. Idempotent; an advisory lock makes concurrent starts wait
 * for each other instead of racing. Returns the names of the migrations it applied.
 */
export async function applyMigrations(url: string): Promise<string[]> {
  const lockClient = new pg.Client({ connectionString: url, application_name: 'postline-migrate' });
  await lockClient.connect();
  try {
    await lockClient.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    const migrationsList = await loadMigrations();
    const out = await withEngine(url, (engine) =>
      engine.applyMigrations({ migrationsList, filters }),
    );
    return out.appliedMigrationNames;
  } finally {
    await lockClient.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {});
    await lockClient.end();
  }
}

/**
 * SQL that takes a database migrated with prisma/migrations to `schema.prisma`.
 * Empty when the two agree. Uses a throwaway shadow database on the same server.
 */
export async function pendingSchemaChanges(url: string, schemaText?: string): Promise<string> {
  const migrationsList = await loadMigrations();
  schemaText ??= await readFile(schemaPath, 'utf8');
  const result = await withEngine(url, (engine) =>
    engine.diff({
      from: { tag: 'migrations', ...migrationsList },
      to: { tag: 'schemaDatamodel', files: [{ path: 'schema.prisma', content: schemaText }] },
      script: true,
      exitCode: null,
      filters,
    }),
  );
  return normaliseScript(result.stdout ?? '');
}

function normaliseScript(script: string): string {
  const trimmed = script.trim();
  return trimmed === '' || trimmed === '-- This is an empty migration.' ? '' : `${trimmed}\n`;
}

/** Whether every migration on disk is recorded as applied (and none failed) in the database. */
export async function migrationStatus(
  client: pg.ClientBase | pg.Pool,
): Promise<{ applied: boolean; pending: string[] }> {
  const onDisk = (await loadMigrations()).migrationDirectories.map((m) => m.path);
  const table = await client.query<{ exists: boolean }>(
    "select to_regclass('public._prisma_migrations') is not null as exists",
  );
  if (!table.rows[0]?.exists) return { applied: false, pending: onDisk };
  const rows = await client.query<{ migration_name: string }>(
    'select migration_name from _prisma_migrations where finished_at is not null and rolled_back_at is null',
  );
  const done = new Set(rows.rows.map((r) => r.migration_name));
  const pending = onDisk.filter((n) => !done.has(n));
  return { applied: pending.length === 0, pending };
}
