/**
 * The compiled build: what `npm start` and the Docker image run. Builds dist/ the way `npm
 * start` does (only when it is older than src/), then starts `node dist/server.js` and
 * `node dist/jobs/worker-main.js` as processes on a test database and talks to them over HTTP.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, PASSWORD } from './fixtures.ts';
import { cloneTemplate } from './harness.ts';
import { eventually } from './wait.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const children = new Set<ChildProcess>();

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** `node <entry>` from the checkout, its output kept for failure messages. */
function start(entry: string, env: Record<string, string>) {
  const child = spawn(process.execPath, [entry], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let output = '';
  child.stdout?.on('data', (d) => {
    output += String(d);
  });
  child.stderr?.on('data', (d) => {
    output += String(d);
  });
  return { child, output: () => output };
}

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

let env: Record<string, string>;
let baseUrl: string;

beforeAll(async () => {
  await promisify(execFile)(process.execPath, ['scripts/build.mjs', '--if-stale'], {
    cwd: root,
    timeout: 280_000,
  });
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  env = {
    NODE_ENV: 'production',
    DATABASE_URL: await cloneTemplate('build'),
    JWT_SECRET: 'build-test-secret-that-is-at-least-32-characters',
    METRICS_TOKEN: 'build-test-metrics-token',
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'warn',
    SEED_ON_START: 'false',
    WORKER_MODE: 'separate',
    RESPONSE_CACHE: 'off',
  };
}, 300_000);

describe('compiled build', () => {
  it('emits the entry points npm start, npm run worker and the Docker image run', () => {
    for (const file of [
      'server.js',
      'jobs/worker-main.js',
      'db/seed-cli.js',
      'db/migrate-cli.js',
    ]) {
      expect(existsSync(path.join(root, 'dist', file)), `dist/${file}`).toBe(true);
    }
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
    // Compiled JavaScript with the young generation capped (README, "Memory"); the Dockerfile
    // starts the server the same way.
    expect(pkg.scripts.start).toBe('node --max-semi-space-size=16 dist/server.js');
    expect(pkg.scripts.worker).toBe('node --max-semi-space-size=16 dist/jobs/worker-main.js');
    const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain('CMD ["node", "--max-semi-space-size=16", "dist/server.js"]');
  });

  it('node dist/server.js gets ready and answers a feed query', async () => {
    const server = start('dist/server.js', env);
    await eventually(
      async () => {
        if (server.child.exitCode !== null) {
          throw new Error(`dist/server.js exited (${server.child.exitCode}):\n${server.output()}`);
        }
        return fetch(`${baseUrl}/ready`).then(
          (r) => r.ok,
          () => false,
        );
      },
      { timeoutMs: 90_000, intervalMs: 200, what: 'dist/server.js /ready' },
    );

    const post = (body: unknown, token?: string) =>
      fetch(`${baseUrl}/graphql`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(body),
      }).then((r) => r.json() as Promise<{ data?: any; errors?: unknown }>);

    const login = await post({
      query:
        'mutation($e: String!, $p: String!) { login(input: { email: $e, password: $p }) { token } }',
      variables: { e: ADMIN, p: PASSWORD },
    });
    const token = login.data?.login?.token as string;
    expect(token).toEqual(expect.any(String));
    const feed = await post(
      {
        query: '{ posts(first: 3) { edges { node { title project { name client { name } } } } } }',
      },
      token,
    );
    expect(feed.errors).toBeUndefined();
    expect(feed.data.posts.edges).toHaveLength(3);
    expect(feed.data.posts.edges[0].node.project.client.name).toEqual(expect.any(String));

    server.child.kill('SIGTERM');
    const code = await new Promise((r) => server.child.once('exit', r));
    expect(code).toBe(0);
  }, 120_000);

  it('node dist/jobs/worker-main.js starts a job runner', async () => {
    const worker = start('dist/jobs/worker-main.js', { ...env, PORT: '0' });
    await eventually(
      () => {
        if (worker.child.exitCode !== null) {
          throw new Error(`worker exited (${worker.child.exitCode}):\n${worker.output()}`);
        }
        return /^worker \S+ ready$/m.test(worker.output());
      },
      { timeoutMs: 60_000, intervalMs: 100, what: 'worker ready' },
    );
    worker.child.kill('SIGTERM');
    const code = await new Promise((r) => worker.child.once('exit', r));
    expect(code, worker.output()).toBe(0);
  }, 90_000);
});
