/**
 * The benchmark database: `postline_bench_<posts>` on BENCH_DATABASE_URL's (or DATABASE_URL's,
 * or the local default's) server, or on an embedded PostgreSQL when no server answers.
 * Migrations are always applied; the data is seeded only when the post count is not right.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { applyMigrations } from '../../src/db/migrations.ts';
import { resetData, seed } from '../../src/db/seed.ts';
import { onCleanup } from './cleanup.ts';
import { freePort } from './server.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Advisory lock key base (plus the post count) held while a database is checked or seeded. */
const BENCH_SEED_LOCK = 7_230_190_000;
export const DEFAULT_SERVER_URL = 'postgresql://postgres@127.0.0.1:5432/postgres';

export interface BenchDatabase {
  url: string;
  name: string;
  /** Where it lives, for the report (no credentials). */
  server: string;
  posts: number;
  seeded: boolean;
  seedSeconds: number | null;
}

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

const withDatabase = (url: string, name: string) => {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
};

/** Starts the embedded server (src/db/embedded.ts leaves signals and the exit code to us). */
async function startEmbedded(dir: string, port: number) {
  const { startEmbeddedPostgres } = await import('../../src/db/embedded.ts');
  return startEmbeddedPostgres({ dir, port });
}

/** Creates `name` on the server behind `adminUrl` unless it exists. */
async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (found.rowCount === 0) {
      await client
        .query(`create database "${name.replaceAll('"', '""')}"`)
        .catch((err: { code?: string }) => {
          if (err.code !== '42P04') throw err; // created concurrently
        });
    }
  } finally {
    await client.end();
  }
}

const describe = (url: string) => {
  const u = new URL(url);
  return `${u.hostname}:${u.port || 5432}`;
};

export async function prepareDatabase(opts: {
  posts: number;
  log: (line: string) => void;
  /** Database name prefix (default `postline_bench`); the post count is appended. */
  prefix?: string;
}): Promise<BenchDatabase> {
  const name = `${opts.prefix ?? 'postline_bench'}_${opts.posts}`;
  const configured =
    process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL || DEFAULT_SERVER_URL;
  let adminUrl = configured;
  let server = describe(configured);
  if (!(await reachable(configured))) {
    opts.log(
      `No PostgreSQL answers at ${server}; starting an embedded one (.data/bench-postgres).`,
    );
    const embedded = await startEmbedded(path.join(root, '.data/bench-postgres'), await freePort());
    onCleanup('embedded PostgreSQL', () => embedded.stop());
    adminUrl = embedded.adminUrl;
    server = 'embedded PostgreSQL';
  }
  await ensureDatabase(adminUrl, name);
  const url = withDatabase(adminUrl, name);
  await applyMigrations(url);

  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const lock = await pool.connect();
  try {
    // One harness seeds a database at a time; others wait here, then reuse it.
    await lock.query('select pg_advisory_lock($1)', [BENCH_SEED_LOCK + opts.posts]);
    // The seed numbers posts 1..N; posts a run created and could not remove (id > N) do
    // not make the data different.
    const { rows } = await pool.query<{ seeded: number; extra: number; users: number }>(
      `select (select count(*) from posts where id <= $1)::int as seeded,
              (select count(*) from posts where id > $1)::int as extra,
              (select count(*) from users)::int as users`,
      [opts.posts],
    );
    const current = rows[0];
    if (current && current.seeded === opts.posts && current.users > 0) {
      const extra = current.extra ? ` plus ${current.extra} posts left by an interrupted run` : '';
      opts.log(`Reusing ${name} on ${server} (${opts.posts.toLocaleString('en')} posts${extra}).`);
      return { url, name, server, posts: opts.posts, seeded: false, seedSeconds: null };
    }
    if (current?.users) {
      opts.log(
        `${name} holds ${current.seeded + current.extra} posts, not ${opts.posts}: re-seeding.`,
      );
    }
    opts.log(`Seeding ${name} on ${server} with ${opts.posts.toLocaleString('en')} posts...`);
    const client = await pool.connect();
    try {
      await resetData(client);
    } finally {
      client.release();
    }
    const started = performance.now();
    await seed(pool, { posts: opts.posts, log: opts.log });
    const seedSeconds = (performance.now() - started) / 1000;
    opts.log(`Seed time: ${seedSeconds.toFixed(1)} s`);
    return { url, name, server, posts: opts.posts, seeded: true, seedSeconds };
  } finally {
    await lock.query('select pg_advisory_unlock_all()').catch(() => {});
    lock.release();
    await pool.end();
  }
}
