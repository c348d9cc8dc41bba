/**
 * WEB_CONCURRENCY > 1: the primary process (src/server.ts) has run migrations and seeded once;
 * here it forks that many API processes, which share the listening port (node:cluster hands
 * out connections) and nothing else: each has its own pools, caches and job runner. A child
 * that dies is started again; SIGTERM/SIGINT is passed on, each child drains (see
 * src/http/drain.ts), and the primary exits once all have.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from './observability/logger.ts';

/** A child that dies sooner than this after its start is restarted after RESTART_DELAY_MS. */
const QUICK_DEATH_MS = 5000;
const RESTART_DELAY_MS = 1000;

export interface ClusterOptions {
  processes: number;
  /** Environment of every child (on top of the primary's). */
  env: Record<string, string>;
  logger: Logger;
  /** Runs after the last child exited, before the primary exits. */
  onStopped(): Promise<void>;
}

export function runCluster(opts: ClusterOptions): void {
  const { logger } = opts;
  const startedAt = new Map<Worker, number>();
  let stopping = false;
  let failed = false;

  const fork = () => {
    const child = cluster.fork(opts.env);
    startedAt.set(child, Date.now());
  };
  const running = () => Object.values(cluster.workers ?? {}).filter(Boolean) as Worker[];
  const finish = async () => {
    await opts.onStopped().catch(() => {});
    logger.info('all API processes stopped');
    process.exit(failed ? 1 : 0);
  };

  cluster.on('exit', (child, code, signal) => {
    const age = Date.now() - (startedAt.get(child) ?? 0);
    startedAt.delete(child);
    if (stopping) {
      if (code !== 0) failed = true;
      if (running().length === 0) void finish();
      return;
    }
    logger.warn({ pid: child.process.pid, code, signal }, 'an API process died; starting another');
    setTimeout(fork, age < QUICK_DEATH_MS ? RESTART_DELAY_MS : 0);
  });

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping every API process');
    const children = running();
    if (children.length === 0) void finish();
    for (const child of children) child.process.kill(signal);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  for (let i = 0; i < opts.processes; i++) fork();
  logger.info({ processes: opts.processes }, 'API processes started');
}
