/**
 * `npm run schema:diff`: what a change to schema.graphql does to deployed clients.
 *
 * Compares the working `schema.graphql` with the one on a base (a git ref or a file) using
 * GraphQL Inspector, prints breaking, dangerous and safe changes, and exits 1 when a breaking
 * change is not listed, with a reason, in `schema-intended-changes.json`.
 *
 *   npm run schema:diff                         base: merge base with origin/main (or main), else HEAD~1
 *   npm run schema:diff -- --base HEAD~1        schema.graphql at a git ref
 *   npm run schema:diff -- --base-file old.graphql
 *   options: --schema <path> (default schema.graphql), --intended <path>
 *
 * Exit codes: 0 no unlisted breaking change, 1 breaking changes, 2 bad usage or unreadable input.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { type Change, CriticalityLevel, diff } from '@graphql-inspector/core';
import { buildSchema, type GraphQLSchema } from 'graphql';

interface Intended {
  path: string;
  type?: string;
  reason: string;
}

class UsageError extends Error {}

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i === -1) return undefined;
  const value = args[i + 1];
  if (!value || value.startsWith('--')) throw new UsageError(`${name} needs a value`);
  return value;
}

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return null;
  }
}

const commitOf = (ref: string) => git(['rev-parse', '--verify', '-q', `${ref}^{commit}`])?.trim();

/** The base schema's text and a label, or null when the base has no schema to compare with. */
function baseSchema(args: string[], schemaPath: string): { text: string; label: string } | null {
  const file = option(args, '--base-file');
  if (file) {
    if (!existsSync(file)) throw new UsageError(`--base-file ${file} does not exist`);
    return { text: readFileSync(file, 'utf8'), label: file };
  }
  let ref = option(args, '--base');
  let label = ref ?? '';
  if (ref) {
    if (!commitOf(ref)) throw new UsageError(`--base ${ref} is not a commit in this repository`);
  } else {
    for (const candidate of ['origin/main', 'main']) {
      if (!commitOf(candidate)) continue;
      const mergeBase = git(['merge-base', 'HEAD', candidate])?.trim();
      if (mergeBase) {
        ref = mergeBase;
        label = `${candidate} (merge base ${mergeBase.slice(0, 10)})`;
        break;
      }
    }
    if (!ref) {
      if (!commitOf('HEAD~1')) return null;
      ref = 'HEAD~1';
      label = 'HEAD~1';
    }
  }
  const text = git(['show', `${ref}:./${schemaPath}`]);
  if (text === null) {
    process.stdout.write(`${schemaPath} does not exist at ${label}: nothing to compare.\n`);
    return null;
  }
  return { text, label };
}

function parse(text: string, where: string): GraphQLSchema {
  try {
    return buildSchema(text);
  } catch (err) {
    throw new UsageError(`${where} is not a valid schema: ${(err as Error).message}`);
  }
}

function readIntended(file: string): Intended[] {
  if (!existsSync(file)) return [];
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`${file} is not JSON: ${(err as Error).message}`);
  }
  const list = Array.isArray(raw) ? raw : (raw as { changes?: unknown })?.changes;
  if (!Array.isArray(list)) throw new UsageError(`${file}: expected { "changes": [...] }`);
  return list.map((entry, i) => {
    const e = entry as Partial<Intended>;
    if (typeof e.path !== 'string' || !e.path) {
      throw new UsageError(`${file}: changes[${i}] needs a "path" (e.g. "Post.body")`);
    }
    if (typeof e.reason !== 'string' || e.reason.trim().length < 10) {
      throw new UsageError(`${file}: changes[${i}] (${e.path}) needs a "reason" saying why`);
    }
    return {
      path: e.path,
      type: typeof e.type === 'string' ? e.type : undefined,
      reason: e.reason,
    };
  });
}

async function main(args: string[]): Promise<number> {
  const schemaPath = option(args, '--schema') ?? 'schema.graphql';
  const intendedPath = option(args, '--intended') ?? 'schema-intended-changes.json';
  if (!existsSync(schemaPath)) throw new UsageError(`${schemaPath} does not exist`);
  const intended = readIntended(intendedPath);
  const base = baseSchema(args, schemaPath);
  if (!base) {
    process.stdout.write('No base schema to compare with (first commit?): nothing to check.\n');
    return 0;
  }
  const changes = await diff(
    parse(base.text, base.label),
    parse(readFileSync(schemaPath, 'utf8'), schemaPath),
  );
  const out: string[] = [`Comparing ${schemaPath} with ${base.label}`];
  if (changes.length === 0) {
    process.stdout.write(`${out[0]}: no changes.\n`);
    return 0;
  }
  const listed = (c: Change) =>
    intended.find((i) => i.path === c.path && (i.type === undefined || i.type === c.type));
  const groups: [CriticalityLevel, string, string][] = [
    [CriticalityLevel.Breaking, 'Breaking', '✖'],
    [CriticalityLevel.Dangerous, 'Dangerous', '!'],
    [CriticalityLevel.NonBreaking, 'Safe', '✔'],
  ];
  const unlisted: Change[] = [];
  for (const [level, title, mark] of groups) {
    const group = changes.filter((c) => c.criticality.level === level);
    out.push('', `${title} changes (${group.length})`);
    for (const c of group) {
      out.push(`  ${mark} ${c.message}  [${c.type} ${c.path ?? ''}]`.trimEnd());
      if (level === CriticalityLevel.Breaking) {
        const entry = listed(c);
        if (entry) {
          out.push(`      intended: ${entry.reason}`);
        } else {
          unlisted.push(c);
          if (c.criticality.reason) out.push(`      ${c.criticality.reason}`);
        }
      } else if (level === CriticalityLevel.Dangerous && c.criticality.reason) {
        out.push(`      ${c.criticality.reason}`);
      }
    }
  }
  out.push('');
  if (unlisted.length) {
    out.push(
      `${unlisted.length} breaking change${unlisted.length === 1 ? '' : 's'} would break deployed clients.`,
      'Prefer a safe path: add the new field beside the old one and mark the old one',
      '@deprecated(reason: "Use `newField`."); remove it only once clients have moved.',
      `If the break is intended, list it in ${intendedPath} with a reason:`,
      `  { "changes": [{ "path": "${unlisted[0]?.path ?? ''}", "type": "${unlisted[0]?.type}", "reason": "..." }] }`,
    );
    process.stdout.write(`${out.join('\n')}\n`);
    return 1;
  }
  out.push('No unlisted breaking changes.');
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  process.stderr.write(`schema:diff: ${err.message}\n`);
  process.exitCode = 2;
}
