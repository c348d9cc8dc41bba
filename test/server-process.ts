/**
 * The real API entry (src/server.ts) as a child process on a free port, for tests of what only
 * a process shows: start-up checks, signals, exit codes. Killed after the file's tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll } from 'vitest';
import { TEST_SECRET } from './harness.ts';

const children = new Set<ChildProcess>();
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

export interface ServerProcess {
  child: ChildProcess;
  /** e.g. http://127.0.0.1:40123 */
  origin: string;
  /** Resolves with the exit code when the process ends. */
  exited: Promise<number | null>;
  stdout(): string;
  stderr(): string;
  /** POST /graphql with JSON; returns status and parsed body. */
  gql(
    query: string,
    variables?: Record<string, unknown>,
    token?: string,
  ): Promise<{ status: number; body: any }>;
}

/** Starts src/server.ts with `env` (DATABASE_URL at least); resolves once it listens. */
export async function startServerProcess(env: Record<string, string>): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      PORT: '0',
      HOST: '127.0.0.1',
      JWT_SECRET: TEST_SECRET,
      SEED_ON_START: 'false',
      RESPONSE_CACHE: 'off',
      WORKER_MODE: 'separate',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => {
    out += String(d);
  });
  child.stderr?.on('data', (d) => {
    err += String(d);
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  // Outside production the server prints "Postline is ready: http://localhost:<port>/graphql".
  const port = await new Promise<number>((resolve, reject) => {
    const onData = () => {
      const m = /Postline is ready: http:\/\/localhost:(\d+)\//.exec(out);
      if (m) {
        child.stdout?.off('data', onData);
        resolve(Number(m[1]));
      }
    };
    child.stdout?.on('data', onData);
    void exited.then((code) => reject(new Error(`server exited early (${code}): ${err}`)));
  });
  const origin = `http://127.0.0.1:${port}`;
  return {
    child,
    origin,
    exited,
    stdout: () => out,
    stderr: () => err,
    async gql(query, variables, token) {
      const res = await fetch(`${origin}/graphql`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({ query, variables }),
      });
      return { status: res.status, body: await res.json() };
    },
  };
}
