/**
 * Starts the servers a run measures as separate processes, and stops them again: Postline in
 * production mode (from a checkout, compiled or through tsx) and the bare Yoga baseline. The
 * node binary is spawned directly, so the child's pid is the server's own (its CPU time is
 * read from /proc).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onCleanup } from './cleanup.ts';
import { assertServerProcess } from './cpu.ts';
import { type NodeRuntime, type ServerLaunch, thisNode, tsxLaunch } from './runtime.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface RunningServer {
  /** What it is, for logs: `Postline`, `bare Yoga`, `Postline (before: abc1234)`. */
  name: string;
  baseUrl: string;
  pid: number;
  /** The environment the server was started with (secrets included: never print it whole). */
  env: Record<string, string>;
  /** False for servers without Postline's /metrics (the bare Yoga). */
  metrics: boolean;
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

async function startProcess(opts: {
  name: string;
  node: NodeRuntime;
  cwd: string;
  args: string[];
  env: Record<string, string>;
  port: number;
  metrics: boolean;
  readyTimeoutMs?: number;
}): Promise<RunningServer> {
  const child = spawn(opts.node.binary, opts.args, {
    cwd: opts.cwd,
    env: opts.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', (chunk: Buffer) => {
    keep(chunk);
    process.stderr.write(`[${opts.name}] ${chunk}`);
  });
  const stop = onCleanup(`${opts.name} (pid ${child.pid})`, () => stopChild(child));
  const baseUrl = `http://127.0.0.1:${opts.port}`;
  try {
    await waitReady(child, opts.name, baseUrl, opts.readyTimeoutMs ?? 90_000, () => output);
    assertServerProcess(child.pid ?? 0, opts.node.binary, opts.name);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    name: opts.name,
    baseUrl,
    pid: child.pid ?? 0,
    env: opts.env,
    metrics: opts.metrics,
    stop,
  };
}

/** Postline from `launch` (a checkout), in production mode, on a free port. */
/** The METRICS_TOKEN of the servers the harness starts. */
export const BENCH_METRICS_TOKEN = 'bench-metrics-token-not-a-secret';

/**
 * The environment of a production Postline started by a one-off bench script (ab-env,
 * cpu-profile, startup): this process's environment, then production settings on 127.0.0.1,
 * the database `db` on the local server, response cache off, jobs in a separate worker, no seed.
 */
export function scriptServerEnv(opts: {
  port: number;
  db: string;
  jwtSecret: string;
  logLevel?: string;
}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    NODE_ENV: 'production',
    LOG_LEVEL: opts.logLevel ?? 'error',
    PORT: String(opts.port),
    HOST: '127.0.0.1',
    DATABASE_URL: `postgresql://postgres@127.0.0.1:5432/${opts.db}`,
    JWT_SECRET: opts.jwtSecret,
    METRICS_TOKEN: BENCH_METRICS_TOKEN,
    RESPONSE_CACHE: 'off',
    WORKER_MODE: 'separate',
    SEED_ON_START: 'false',
  };
}

export async function startServer(opts: {
  databaseUrl: string;
  jwtSecret: string;
  env: Record<string, string>;
  /** Default: the Node running the harness. */
  node?: NodeRuntime;
  /** Default: this checkout through tsx. */
  launch?: ServerLaunch;
  name?: string;
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
    // Production guards /metrics (README "Security"); the harness scrapes with this token.
    METRICS_TOKEN: BENCH_METRICS_TOKEN,
    PORT: String(port),
    DATABASE_URL: opts.databaseUrl,
    JWT_SECRET: opts.jwtSecret,
  };
  const launch = opts.launch ?? tsxLaunch(root);
  return startProcess({
    name: opts.name ?? 'Postline',
    node: opts.node ?? thisNode(),
    cwd: launch.cwd,
    args: launch.args,
    env,
    port,
    metrics: true,
    ...(opts.readyTimeoutMs ? { readyTimeoutMs: opts.readyTimeoutMs } : {}),
  });
}

/** `bench/bare-yoga.mjs`: createYoga with a one-field schema and no plugins. */
export async function startBareYoga(node: NodeRuntime): Promise<RunningServer> {
  const port = await freePort();
  return startProcess({
    name: 'bare Yoga',
    node,
    cwd: root,
    args: [path.join(root, 'bench/bare-yoga.mjs')],
    env: { ...(process.env as Record<string, string>), NODE_ENV: 'production', PORT: String(port) },
    port,
    metrics: false,
  });
}

/**
 * Sends `n` `{ __typename }` requests, eight at a time, for at most `maxMs`: a fresh server's
 * request path runs in the interpreter and is compiled on the way (on threads whose CPU time
 * the run would count), so the servers set against each other get the same start first.
 */
export async function primeTypename(baseUrl: string, n = 2000, maxMs = 15_000): Promise<void> {
  let left = n;
  const deadline = Date.now() + maxMs;
  const worker = async () => {
    while (left-- > 0 && Date.now() < deadline) {
      const res = await fetch(`${baseUrl}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"query":"{ __typename }"}',
      });
      if (!res.ok) throw new Error(`${baseUrl} answered ${res.status} to { __typename }`);
      await res.text();
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

async function waitReady(
  child: ChildProcess,
  name: string,
  baseUrl: string,
  timeoutMs: number,
  output: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited before it was ready:\n${output()}`);
    }
    try {
      const res = await fetch(`${baseUrl}/ready`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${name} was not ready after ${timeoutMs} ms:\n${output()}`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}
