import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { printSchema } from 'graphql';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { quoteIdent } from '../src/db/embedded.ts';
import { applyMigrations, migrationStatus, pendingSchemaChanges } from '../src/db/migrations.ts';
import { schema } from '../src/schema/index.ts';
import { cloneTemplate, databaseUrl } from './harness.ts';

const socket = await socketDirectory();

describe('schema and migrations', () => {
  it('schema.graphql is the schema the code builds', async () => {
    const committed = await readFile(new URL('../schema.graphql', import.meta.url), 'utf8');
    expect(committed).toBe(`${printSchema(schema)}\n`);
  });

  it('schema.prisma and prisma/migrations agree (no drift)', async () => {
    const sql = await pendingSchemaChanges(inject('adminUrl'));
    expect(sql).toBe('');
  });

  it('a schema.prisma change without a migration is detected as drift', async () => {
    const text = await readFile(new URL('../prisma/schema.prisma', import.meta.url), 'utf8');
    const changed = text.replace('  industry  String', '  website   String?\n  industry  String');
    expect(changed).not.toBe(text);
    const sql = await pendingSchemaChanges(inject('adminUrl'), changed);
    expect(sql).toMatch(/ALTER TABLE "clients" ADD COLUMN\s+"website" TEXT/);
  });

  it('applying migrations twice changes nothing', async () => {
    const url = await cloneTemplate('migrate');
    expect(await applyMigrations(url)).toEqual([]);
    expect(await applyMigrations(url)).toEqual([]);
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    expect(await migrationStatus(pool)).toEqual({ applied: true, pending: [] });
    await pool.end();
  });

  // libpq's Unix-socket form (`postgresql://user@/db?host=/dir`) is not a WHATWG URL: the
  // migrator once refused it ("Invalid URL") and the server could not start.
  it.skipIf(!socket)(
    'migrates a database named by a Unix-socket URL (postgresql://user@/db?host=/dir)',
    async () => {
      const name = `postline_test_socket_${inject('runId')}`;
      const admin = new pg.Client({ connectionString: inject('adminUrl') });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${quoteIdent(name)}`);
      await admin.end();
      const { port, username, password } = new URL(inject('adminUrl'));
      const auth = password ? `${username}:${password}` : username;
      const url = `postgresql://${auth}@/${name}?host=${encodeURIComponent(socket as string)}&port=${port || 5432}`;
      expect((await applyMigrations(url)).length).toBeGreaterThan(0);
      const pool = new pg.Pool({ connectionString: url, max: 1 });
      expect(await migrationStatus(pool)).toEqual({ applied: true, pending: [] });
      await pool.end();
    },
  );

  it('two processes migrating an empty database at once both succeed', async () => {
    const name = `postline_test_empty_${inject('runId')}`;
    const admin = new pg.Client({ connectionString: inject('adminUrl') });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${quoteIdent(name)}`);
    await admin.end();
    const url = databaseUrl(name);
    const [a, b] = await Promise.all([applyMigrations(url), applyMigrations(url)]);
    // One run applied everything, the other found nothing left to do.
    expect([...a, ...b].sort()).toEqual(a.length ? a : b);
    expect(a.length + b.length).toBeGreaterThan(0);
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    const status = await migrationStatus(pool);
    const { rows } = await pool.query('select count(*)::int as n from _prisma_migrations');
    await pool.end();
    expect(status.applied).toBe(true);
    expect(rows[0].n).toBe(status.pending.length + (a.length || b.length));
  });
});

/** The test server's Unix-socket directory, when it has one (the embedded server may not). */
async function socketDirectory(): Promise<string | null> {
  const admin = new pg.Client({ connectionString: inject('adminUrl') });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ dirs: string }>(
      "SELECT current_setting('unix_socket_directories') AS dirs",
    );
    const dir = rows[0]?.dirs.split(',')[0]?.trim();
    return dir && existsSync(dir) ? dir : null;
  } finally {
    await admin.end();
  }
}
