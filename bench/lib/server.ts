/** Starts Postline as a separate production-mode process and stops it again. */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onCleanup } from './cleanup.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface RunningServer {
  baseUrl: string;
  pid: number;
  /** The environment the server was started with (secrets included: never print it whole). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** A JWT secret for one benchmark run; it also signs cursors, so the harness can build them. */
export const newJwtSecret = () => randomBytes(32).toString('hex');

export async function startServer(opts: {
  databaseUrl: string;
  jwtSecret: string;
  env: Record<string, string>;
  readyTimeoutMs?: number;
}): Promise<RunningServer> {
  const port = await freePort();
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    SEED_ON_START: 'false',
    ...opts.env,
    PORT: String(port),
    DATABASE_URL: opts.databaseUrl,
    JWT_SECRET: opts.jwtSecret,
  };
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', (chunk: Buffer) => {
    keep(chunk);
    process.stderr.write(`[postline] ${chunk}`);
  });
  const stop = onCleanup(`Postline (pid ${child.pid})`, () => stopChild(child));
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await waitReady(child, baseUrl, opts.readyTimeoutMs ?? 90_000, () => output);
  } catch (err) {
    await stop();
    throw err;
  }
  return { baseUrl, pid: child.pid ?? 0, env, stop };
}

async function waitReady(
  child: ChildProcess,
  baseUrl: string,
  timeoutMs: number,
  output: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`Postline exited before it was ready:\n${output()}`);
    }
    try {
      const res = await fetch(`${baseUrl}/ready`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`Postline was not ready after ${timeoutMs} ms:\n${output()}`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}
