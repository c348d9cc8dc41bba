/**
 * The "before" side of `--compare <ref>`: the ref checked out into a temporary git worktree,
 * with its own dependencies. `npm ci` runs once per package-lock.json (cached under
 * ~/.cache/postline-bench-trees/<lock hash>/ and linked into the worktree); a ref whose lock
 * equals this checkout's uses this checkout's node_modules. The worktree is removed at the end,
 * on an error and on Ctrl-C.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  copyFile,
  mkdir,
  mkdtemp,
  readFile,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { onCleanup } from './cleanup.ts';
import { runLogged } from './runtime.ts';

const exec = promisify(execFile);

export interface Tree {
  /** The checkout the server runs from. */
  dir: string;
  /** What the user asked for (`main`, `HEAD~1`) or `working tree`. */
  ref: string;
  sha: string;
  /** Uncommitted changes in the checkout (the "after" side only). */
  dirty: boolean;
  /** Where its node_modules come from, for the report. */
  modules: string;
}

/** ~/.cache/postline-bench-trees: dependency installs keyed by package-lock.json hash. */
export const treeCacheDir = () => path.join(os.homedir(), '.cache', 'postline-bench-trees');

async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await exec('git', ['-C', cwd, ...args], { maxBuffer: 16 * 2 ** 20 });
  return stdout.trim();
}

/** This checkout as the "after" side. */
export async function currentTree(root: string): Promise<Tree> {
  const sha = await git(root, 'rev-parse', 'HEAD');
  const status = await git(root, 'status', '--porcelain', '--untracked-files=no');
  return { dir: root, ref: 'working tree', sha, dirty: status.length > 0, modules: 'its own' };
}

export const lockHash = (lock: string) =>
  createHash('sha256').update(lock).digest('hex').slice(0, 16);

/**
 * node_modules for `lock` (the text of a package-lock.json whose package.json is beside it
 * in `from`): installed once with `npm ci --ignore-scripts` into the cache. Concurrent runs
 * install into their own folder and the first rename wins.
 */
async function cachedModules(
  from: string,
  lock: string,
  log: (line: string) => void,
): Promise<string> {
  const dir = path.join(treeCacheDir(), lockHash(lock));
  const modules = path.join(dir, 'node_modules');
  if (existsSync(path.join(dir, '.complete'))) return modules;
  const staging = `${dir}.tmp-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  const remove = onCleanup(`dependency install ${staging}`, () =>
    rm(staging, { recursive: true, force: true }),
  );
  try {
    await copyFile(path.join(from, 'package.json'), path.join(staging, 'package.json'));
    await writeFile(path.join(staging, 'package-lock.json'), lock);
    log(
      `Installing the compared ref's dependencies (npm ci) into ${dir} (once per package-lock.json)...`,
    );
    await runLogged('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], staging);
    await writeFile(path.join(staging, '.complete'), `${new Date().toISOString()}\n`);
    await rm(dir, { recursive: true, force: true }).catch(() => {});
    await rename(staging, dir).catch(async (err: NodeJS.ErrnoException) => {
      // Another run finished the same install first: use theirs.
      if (!existsSync(path.join(dir, '.complete'))) throw err;
    });
  } finally {
    await remove();
  }
  return modules;
}

/**
 * Checks `ref` out into a temporary worktree of the repository at `root`, links its
 * dependencies and runs its `postinstall` (Postline's generates src/generated/).
 */
export async function checkoutRef(
  root: string,
  ref: string,
  log: (line: string) => void,
): Promise<Tree> {
  let sha: string;
  try {
    sha = await git(root, 'rev-parse', '--verify', '--quiet', `${ref}^{commit}`);
  } catch {
    throw new Error(`--compare ${ref}: not a commit in ${root}`);
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), `postline-bench-${sha.slice(0, 7)}-`));
  log(`Checking out ${ref} (${sha.slice(0, 10)}) into ${dir}...`);
  await git(root, 'worktree', 'add', '--detach', '--quiet', dir, sha);
  onCleanup(
    `worktree ${dir}`,
    async () => {
      await git(root, 'worktree', 'remove', '--force', dir).catch(() => {});
      await rm(dir, { recursive: true, force: true });
      await git(root, 'worktree', 'prune').catch(() => {});
    },
    { last: true },
  );

  const lock = await readFile(path.join(dir, 'package-lock.json'), 'utf8');
  const mine = await readFile(path.join(root, 'package-lock.json'), 'utf8').catch(() => '');
  let modules: string;
  let source: string;
  if (lock === mine && existsSync(path.join(root, 'node_modules'))) {
    modules = path.join(root, 'node_modules');
    source = "this checkout's (same package-lock.json)";
  } else {
    modules = await cachedModules(dir, lock, log);
    source = `${path.dirname(modules)} (npm ci, cached by package-lock.json)`;
  }
  await symlink(modules, path.join(dir, 'node_modules'), 'dir');
  const pkg = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as {
    scripts?: Record<string, string>;
  };
  if (pkg.scripts?.postinstall) {
    log(`Running ${ref}'s postinstall (${pkg.scripts.postinstall})...`);
    await runLogged('npm', ['run', 'postinstall'], dir);
  }
  return { dir, ref, sha, dirty: false, modules: source };
}
