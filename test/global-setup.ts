/**
 * Once per run: find a PostgreSQL server (TEST_DATABASE_URL, DATABASE_URL, or an embedded one),
 * create a template database, migrate and seed it. Each test file clones it (see db.ts).
 */
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { type EmbeddedServer, quoteIdent, startEmbeddedPostgres } from '../src/db/embedded.ts';
import { applyMigrations } from '../src/db/migrations.ts';
import { seed } from '../src/db/seed.ts';
import { installWorkerSchema } from '../src/jobs/runner.ts';
import { TEST_SEED } from './fixtures.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
    templateDb: string;
    runId: string;
  }
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export default async function setup(project: TestProject) {
  const runId = `${Date.now().toString(36)}${process.pid}`;
  let embedded: EmbeddedServer | null = null;
  let adminUrl = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL || '';
  if (!adminUrl) {
    const port = 55_000 + (process.pid % 5000);
    embedded = await startEmbeddedPostgres({
      dir: path.join(os.tmpdir(), `postline-test-pg-${runId}`),
      port,
      persistent: false,
    });
    adminUrl = embedded.adminUrl;
    process.stdout.write(`Tests use an embedded PostgreSQL on port ${port}\n`);
  } else {
    process.stdout.write(`Tests use the PostgreSQL server at ${new URL(adminUrl).host}\n`);
  }
  const templateDb = `postline_test_tpl_${runId}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${quoteIdent(templateDb)}`);
  const templateUrl = withDatabase(adminUrl, templateDb);
  await applyMigrations(templateUrl);
  // graphile-worker's schema, so mutations that enqueue jobs work in every test database.
  await installWorkerSchema(templateUrl);
  const pool = new pg.Pool({ connectionString: templateUrl, max: 2 });
  await seed(pool, TEST_SEED);
  await pool.end();

  project.provide('adminUrl', adminUrl);
  project.provide('templateDb', templateDb);
  project.provide('runId', runId);

  return async () => {
    const { rows } = await admin.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE datname LIKE $1',
      [`postline_test_%${runId}%`],
    );
    for (const { datname } of rows) {
      await admin
        .query(`DROP DATABASE IF EXISTS ${quoteIdent(datname)} WITH (FORCE)`)
        .catch(() => {});
    }
    await admin.end();
    await embedded?.stop();
  };
}
