/**
 * The benchmark database: `postline_bench_<posts>` on BENCH_DATABASE_URL's (or DATABASE_URL's,
 * or the local default's) server, or on an embedded PostgreSQL when no server answers.
 * Migrations are always applied; the data is seeded only when the post count is not right.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { ensureDatabase, startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { applyMigrations } from '../../src/db/migrations.ts';
import { resetData, seed } from '../../src/db/seed.ts';
import { onCleanup } from './cleanup.ts';
import { freePort } from './server.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
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

const describe = (url: string) => {
  const u = new URL(url);
  return `${u.hostname}:${u.port || 5432}`;
};

export async function prepareDatabase(opts: {
  posts: number;
  log: (line: string) => void;
}): Promise<BenchDatabase> {
  const name = `postline_bench_${opts.posts}`;
  const configured =
    process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL || DEFAULT_SERVER_URL;
  let adminUrl = configured;
  let server = describe(configured);
  if (!(await reachable(configured))) {
    opts.log(
      `No PostgreSQL answers at ${server}; starting an embedded one (.data/bench-postgres).`,
    );
    const embedded = await startEmbeddedPostgres({
      dir: path.join(root, '.data/bench-postgres'),
      port: await freePort(),
    });
    onCleanup('embedded PostgreSQL', () => embedded.stop());
    adminUrl = embedded.adminUrl;
    server = 'embedded PostgreSQL';
  }
  await ensureDatabase(adminUrl, name);
  const url = withDatabase(adminUrl, name);
  await applyMigrations(url);

  const pool = new pg.Pool({ connectionString: url, max: 2 });
  try {
    const { rows } = await pool.query<{ posts: number; users: number }>(
      'select (select count(*) from posts)::int as posts, (select count(*) from users)::int as users',
    );
    const current = rows[0];
    if (current && current.posts === opts.posts && current.users > 0) {
      opts.log(`Reusing ${name} on ${server} (${opts.posts.toLocaleString('en')} posts).`);
      return { url, name, server, posts: opts.posts, seeded: false, seedSeconds: null };
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
    await pool.end();
  }
}
