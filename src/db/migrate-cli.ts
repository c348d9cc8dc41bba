/** `npm run db:migrate`: applies pending migrations (idempotent, safe to run concurrently). */
import { fail, openForScript } from './cli.ts';
import { applyMigrations } from './migrations.ts';

const db = await openForScript();
try {
  const applied = await applyMigrations(db.url);
  process.stdout.write(
    applied.length ? `Applied: ${applied.join(', ')}\n` : 'Database is up to date.\n',
  );
} catch (err) {
  fail(err);
} finally {
  await db.embedded?.stop();
}
