/**
 * examples/typed-clients end to end: GraphQL Codegen generates the types and the
 * trusted-documents manifest from schema.graphql, the example type-checks against them, and
 * its Apollo Client and urql scripts run against a production server that accepts only that
 * manifest.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestApp } from './harness.ts';
import { serve } from './http.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const example = path.join(root, 'examples/typed-clients');
const tsx = pathToFileURL(path.join(root, 'node_modules/tsx/dist/loader.mjs')).href;

/** Runs Node asynchronously: the server under test lives in this process and must keep answering. */
function node(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

// Each step is a fresh Node process; tsc on the example takes several seconds.
describe('typed clients example', { timeout: 180_000 }, () => {
  let manifest = '';
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('generates types and a persisted-documents manifest from schema.graphql', async () => {
    const r = await node(['--import', tsx, path.join(example, 'codegen.ts')]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    manifest = path.join(example, 'generated/persisted-documents.json');
    const entries = Object.entries(JSON.parse(readFileSync(manifest, 'utf8')) as object);
    expect(entries.map(([, doc]) => /^(query|mutation) (\w+)/.exec(doc)?.[2]).sort()).toEqual([
      'Feed',
      'Login',
      'Post',
    ]);
    for (const [id] of entries) expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    const types = readFileSync(path.join(example, 'generated/graphql.ts'), 'utf8');
    expect(types).toContain('export type FeedQuery = ');
    expect(types).toContain('status: PostStatus, platform: Platform');
  });

  it('type-checks the Apollo and urql scripts against the generated types', async () => {
    const r = await node([
      path.join(root, 'node_modules/typescript/bin/tsc'),
      '--noEmit',
      '-p',
      path.join(example, 'tsconfig.json'),
    ]);
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  });

  it('runs both clients against a server that accepts only the manifest', async () => {
    const t = await createTestApp({ NODE_ENV: 'production', TRUSTED_DOCUMENTS: manifest });
    const server = await serve(t.app);
    cleanup.push(
      () => t.close(),
      () => server.close(),
    );
    expect(t.app.persisted.trustedCount).toBe(3);
    const env = { POSTLINE_URL: server.url, NODE_ENV: 'production' };

    const apollo = await node(['--import', tsx, path.join(example, 'apollo.ts')], env);
    expect(apollo.err).toBe('');
    expect(apollo.code).toBe(0);
    expect(apollo.out).toMatch(/^apollo: signed in as .+ \(ADMIN\)$/m);
    expect(apollo.out).toMatch(/^apollo: page 1 has 5 of \d+ posts$/m);
    expect(apollo.out).toMatch(/^apollo: the cache now holds 10 posts, ".+" last$/m);
    expect(apollo.out).toMatch(/^apollo: ".+" by .+, [A-Z_]+$/m);

    const urql = await node(['--import', tsx, path.join(example, 'urql.ts')], env);
    expect(urql.err).toBe('');
    expect(urql.code).toBe(0);
    expect(urql.out).toMatch(/^urql: signed in as .+ \(EDITOR\)$/m);
    expect(urql.out).toMatch(/^urql: page 1 has 5 of \d+ draft posts$/m);
    expect(urql.out).toMatch(/^urql: ".+" by .+, DRAFT$/m);

    // The same server refuses query text: the clients above really sent only hashes.
    const text = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(
      ((await text.json()) as { errors: { extensions: { code: string } }[] }).errors[0]?.extensions
        .code,
    ).toBe('PERSISTED_QUERY_ONLY');
  });
});
