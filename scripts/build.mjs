/**
 * `npm run build`: compiles src/ to dist/ with tsc (tsconfig.build.json), the generated Prisma
 * client included, then stamps dist/ so later starts can tell it is current.
 *
 * `--if-stale` (what `npm start` and `npm run worker` run first) builds only when a file under
 * src/ or a tsconfig is newer than the last build's stamp, so a start with a current dist/
 * costs a directory walk and no compiler. Plain JavaScript on purpose: it runs before anything
 * is compiled and needs no TypeScript loader.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const stamp = path.join(root, 'dist', '.build-stamp');
const ifStale = process.argv.includes('--if-stale');

/** Newest modification time (ms) of the files the build reads. */
function newestInput() {
  let newest = 0;
  const visit = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) visit(full);
      else newest = Math.max(newest, statSync(full).mtimeMs);
    }
  };
  visit(path.join(root, 'src'));
  for (const file of ['tsconfig.json', 'tsconfig.build.json']) {
    newest = Math.max(newest, statSync(path.join(root, file)).mtimeMs);
  }
  return newest;
}

const current = () => existsSync(stamp) && statSync(stamp).mtimeMs >= newestInput();
if (ifStale && current()) process.exit(0);

// One build at a time: processes that start together (test files, cluster instances, `npm start`
// beside a worker) wait for the build under way, then find dist/ current instead of rewriting
// it while another process loads it. A lock older than ten minutes is a crashed build's.
const lock = path.join(root, 'dist', '.build-lock');
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
mkdirSync(path.dirname(lock), { recursive: true });
for (;;) {
  try {
    mkdirSync(lock);
    break;
  } catch (err) {
    if (err.code !== 'EEXIST') throw err;
    try {
      if (Date.now() - statSync(lock).mtimeMs > 10 * 60_000)
        rmSync(lock, { recursive: true, force: true });
    } catch {}
    sleep(250);
  }
}
const release = () => rmSync(lock, { recursive: true, force: true });
process.on('exit', release);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => process.exit(130));
}
if (ifStale && current()) process.exit(0);

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  process.stderr.write(
    'dist/ is missing or older than src/, and TypeScript is not installed to build it.\n' +
      'Run `npm install` (with dev dependencies) and start again, or build where it is installed.\n',
  );
  process.exit(1);
}

const started = performance.now();
const startedAt = new Date();
if (ifStale) process.stderr.write('Compiling src/ to dist/ (npm run build)...\n');
const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
  cwd: root,
  stdio: 'inherit',
});
if (result.status !== 0) {
  process.stderr.write(
    `tsc failed (${result.signal ?? `exit ${result.status}`}): dist/ not stamped\n`,
  );
  process.exit(result.status || 1);
}
// The stamp carries the time the build started: a file saved while tsc ran is newer than it,
// so the next `--if-stale` builds again.
writeFileSync(stamp, `${startedAt.toISOString()}\n`);
utimesSync(stamp, startedAt, startedAt);
process.stderr.write(`Built dist/ in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
