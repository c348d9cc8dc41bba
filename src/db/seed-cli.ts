/**
 * `npm run db:seed -- --posts N [--reset]`: migrates, then seeds demo data.
 * Refuses to touch a database that already has data unless `--reset` is given.
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { fail, openForScript } from './cli.ts';
import { applyMigrations } from './migrations.ts';
import { resetData, seed } from './seed.ts';

const { values } = parseArgs({
  options: {
    posts: { type: 'string', default: '20000' },
    clients: { type: 'string', default: '300' },
    reset: { type: 'boolean', default: false },
  },
});
const posts = Number(values.posts);
const clients = Number(values.clients);
if (!Number.isInteger(posts) || posts < 0) fail('--posts must be a whole number');
if (!Number.isInteger(clients) || clients < 1) fail('--clients must be a positive whole number');

const db = await openForScript();
const pool = new pg.Pool({ connectionString: db.url, max: 2 });
try {
  await applyMigrations(db.url);
  const { rows } = await pool.query<{ n: number }>('select count(*)::int as n from users');
  if ((rows[0]?.n ?? 0) > 0) {
    if (!values.reset) fail('The database already has data; pass --reset to wipe and re-seed it.');
    await resetData(pool as unknown as pg.ClientBase);
  }
  const started = performance.now();
  await seed(pool, { posts, clients, log: (m) => process.stdout.write(`${m}\n`) });
  process.stdout.write(
    `Seeded ${posts} posts in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
  );
} catch (err) {
  fail(err);
} finally {
  await pool.end();
  await db.embedded?.stop();
}
