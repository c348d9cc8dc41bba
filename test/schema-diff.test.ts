/**
 * `npm run schema:diff` as CI and developers run it: a process, its output and exit code,
 * on the committed schema with one change applied, from files and from git commits.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const script = path.join(root, 'scripts/schema-diff.ts');
// `node --import tsx` as `npm run schema:diff` runs it, with tsx found from any directory.
const tsx = pathToFileURL(path.join(root, 'node_modules/tsx/dist/loader.mjs')).href;
const committed = readFileSync(path.join(root, 'schema.graphql'), 'utf8');

// The committed schema with Post.body (and its description) removed, and with a new optional
// Post.excerpt.
const removed = committed.replace(
  /^(type Post implements Node \{[^}]*?)(?:\n\n {2}"""[^"]*""")?\n {2}body: String!/m,
  '$1',
);
const added = committed.replace(/^(type Post implements Node \{)/m, '$1\n  excerpt: String');

function run(cwd: string, args: string[]) {
  const r = spawnSync(process.execPath, ['--import', tsx, script, ...args], {
    cwd,
    encoding: 'utf8',
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function workdir(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'postline-schema-diff-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

// Each run is a fresh Node process (about a second, several on a busy machine).
describe('schema:diff', { timeout: 120_000 }, () => {
  it('fails on a removed field and names it', () => {
    expect(removed).not.toBe(committed);
    const dir = workdir({ 'base.graphql': committed, 'schema.graphql': removed });
    const r = run(dir, ['--base-file', 'base.graphql']);
    expect(r.code).toBe(1);
    expect(r.out).toContain('Breaking changes (1)');
    expect(r.out).toContain(
      "Field 'body' was removed from object type 'Post'  [FIELD_REMOVED Post.body]",
    );
    expect(r.out).toContain('@deprecated(reason:');
  });

  it('passes an added field, listed as safe', () => {
    const dir = workdir({ 'base.graphql': committed, 'schema.graphql': added });
    const r = run(dir, ['--base-file', 'base.graphql']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('Breaking changes (0)');
    expect(r.out).toContain(
      "✔ Field 'excerpt' was added to object type 'Post'  [FIELD_ADDED Post.excerpt]",
    );
  });

  it('passes a breaking change listed as intended, printing the reason', () => {
    const dir = workdir({
      'base.graphql': committed,
      'schema.graphql': removed,
      'schema-intended-changes.json': JSON.stringify({
        changes: [
          {
            path: 'Post.body',
            type: 'FIELD_REMOVED',
            reason: 'Deprecated since 0.3; no client has read it for 90 days.',
          },
        ],
      }),
    });
    const r = run(dir, ['--base-file', 'base.graphql']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('intended: Deprecated since 0.3; no client has read it for 90 days.');
    // An entry without a reason is refused.
    writeFileSync(
      path.join(dir, 'schema-intended-changes.json'),
      JSON.stringify({ changes: [{ path: 'Post.body' }] }),
    );
    const bad = run(dir, ['--base-file', 'base.graphql']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('needs a "reason"');
  });

  it('compares with a git commit, and has nothing to compare on a first commit', () => {
    const dir = workdir({ 'schema.graphql': committed });
    const git = (...args: string[]) =>
      execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
        cwd: dir,
        stdio: 'pipe',
      });
    git('init', '-q', '-b', 'work');
    git('add', '.');
    git('commit', '-qm', 'first');
    const first = run(dir, ['--base', 'HEAD~1']);
    expect(first.code).toBe(2);
    expect(first.err).toContain('--base HEAD~1 is not a commit');
    const byDefault = run(dir, []);
    expect(byDefault.code).toBe(0);
    expect(byDefault.out).toContain('nothing to check');

    writeFileSync(path.join(dir, 'schema.graphql'), removed);
    git('commit', '-qam', 'drop Post.body');
    const second = run(dir, ['--base', 'HEAD~1']);
    expect(second.code).toBe(1);
    expect(second.out).toContain('Comparing schema.graphql with HEAD~1');
    expect(second.out).toContain('[FIELD_REMOVED Post.body]');
  });
});
