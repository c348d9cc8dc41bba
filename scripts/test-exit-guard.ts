/**
 * Proves that the test command can fail (issue #11): runs `npm test` on a deliberately failing
 * test file, and on the same file made to pass, through the same global setup the README's
 * `npm test` uses, and exits 1 unless the failing run exits non-zero and the passing run 0.
 *
 * Paths checked: the embedded PostgreSQL (no DATABASE_URL / TEST_DATABASE_URL) always; with
 * `--server <url>` (or DATABASE_URL set) also DATABASE_URL and TEST_DATABASE_URL.
 *
 *   npm run test:guard                       # embedded path only
 *   npm run test:guard -- --server postgresql://postgres@127.0.0.1:5432/postgres
 */
import { spawn } from 'node:child_process';

const argv = process.argv.slice(2);
const serverArg = argv.indexOf('--server');
const server = serverArg >= 0 ? argv[serverArg + 1] : process.env.DATABASE_URL;

interface Case {
  name: string;
  env: Record<string, string | undefined>;
}

const base: Record<string, string | undefined> = { ...process.env, POSTLINE_TEST_GUARD: '1' };
delete base.DATABASE_URL;
delete base.TEST_DATABASE_URL;
const cases: Case[] = [{ name: 'embedded PostgreSQL', env: {} }];
if (server) {
  cases.push({ name: 'DATABASE_URL', env: { DATABASE_URL: server } });
  cases.push({ name: 'TEST_DATABASE_URL', env: { TEST_DATABASE_URL: server } });
}

function run(env: Record<string, string | undefined>): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('npm', ['test', '--silent'], {
      env: { ...base, ...env, NO_COLOR: '1', FORCE_COLOR: '0' } as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), out }));
  });
}

let failed = false;
for (const c of cases) {
  for (const outcome of ['fail', 'pass'] as const) {
    const { code, out } = await run({ ...c.env, POSTLINE_GUARD_OUTCOME: outcome });
    // The failing run must have failed *in the test*, not in set-up.
    const ranTest = /Tests\s+.*1 (failed|passed)/.test(out);
    const ok = ranTest && (outcome === 'fail' ? code !== 0 : code === 0);
    process.stdout.write(
      `${ok ? 'ok  ' : 'FAIL'} ${c.name}: a ${outcome === 'fail' ? 'failing' : 'passing'} test file -> npm test exited ${code}${ranTest ? '' : ' (the test did not run)'}\n`,
    );
    if (!ok) {
      failed = true;
      process.stdout.write(`${out.split('\n').slice(-40).join('\n')}\n`);
    }
  }
}
process.stdout.write(
  failed
    ? 'test:guard FAILED: a failing test run does not make the test command fail\n'
    : 'test:guard passed: failing tests make `npm test` exit non-zero on every path checked\n',
);
process.exit(failed ? 1 : 0);
