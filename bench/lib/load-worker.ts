/**
 * The load generator, run as its own process (forked by load-client.ts) so that it never
 * shares an event loop with the server or the harness. It receives one run at a time over
 * IPC and answers with plain figures.
 *
 * - GraphQL workloads: autocannon over loopback, variables drawn per request.
 * - `sql-feed`: the feed page's SQL through `pg`, N concurrent loops (the database baseline).
 *
 * Each run warms up and measures under the same load, without a pause: responses before the
 * warm-up ends are not counted, and the parent is told when measuring starts.
 */
import { createRequire } from 'node:module';
import pg from 'pg';
import { FEED_SQL, PLATFORMS, pick, STATUSES } from './queries.ts';
import { summarize } from './stats.ts';
import type { LoadRequest, LoadResult, ParentMessage, WorkerMessage } from './types.ts';
import { buildRequests, type CannonRequest, type Counters } from './workloads.ts';

interface CannonOptions {
  url: string;
  connections: number;
  duration: number;
  timeout: number;
  requests: CannonRequest[];
}
interface CannonInstance extends PromiseLike<unknown> {
  on(
    event: 'response',
    fn: (client: unknown, status: number, bytes: number, ms: number) => void,
  ): void;
  on(event: 'reqError', fn: (error: Error) => void): void;
}
const autocannon = createRequire(import.meta.url)('autocannon') as (
  o: CannonOptions,
) => CannonInstance;

const send = (message: WorkerMessage) => process.send?.(message);

/** Tracks the warm-up boundary of one run. */
function window(id: number, warmupS: number, onBegin: () => void = () => {}) {
  const state = { measuring: false, startedAt: performance.now() };
  const begin = () => {
    state.measuring = true;
    onBegin();
    state.startedAt = performance.now();
    send({ type: 'warm', id });
  };
  if (warmupS > 0) setTimeout(begin, warmupS * 1000);
  else begin();
  return state;
}

async function runHttp(id: number, req: LoadRequest): Promise<LoadResult> {
  if (req.workload.kind === 'sql-feed') throw new Error('not an HTTP workload');
  const counters: Counters = {
    measuring: false,
    graphqlErrors: 0,
    errorSamples: [],
    writes: 0,
    checks: 0,
    staleReads: 0,
  };
  const latencies: number[] = [];
  let non2xx = 0;
  let transportErrors = 0;
  let timeouts = 0;
  const instance = autocannon({
    url: req.target,
    connections: req.connections,
    duration: (req.warmupS ?? 0) + req.durationS,
    timeout: 30,
    requests: buildRequests(req.workload, counters),
  });
  const span = window(id, req.warmupS ?? 0, () => {
    counters.measuring = true;
  });
  instance.on('response', (_client, status, _bytes, ms) => {
    if (!span.measuring) return;
    latencies.push(ms);
    if (status < 200 || status > 299) non2xx++;
  });
  instance.on('reqError', (error) => {
    if (!span.measuring) return;
    if (/timed out/.test(error.message)) timeouts++;
    else transportErrors++;
    if (counters.errorSamples.length < 5) counters.errorSamples.push(error.message);
  });
  await instance;
  return {
    requests: latencies.length,
    durationS: (performance.now() - span.startedAt) / 1000,
    latency: summarize(latencies),
    non2xx,
    graphqlErrors: counters.graphqlErrors,
    transportErrors,
    timeouts,
    errorSamples: counters.errorSamples,
    ...(req.workload.kind === 'mixed'
      ? { writes: counters.writes, checks: counters.checks, staleReads: counters.staleReads }
      : {}),
  };
}

async function runSql(id: number, req: LoadRequest): Promise<LoadResult> {
  const pool = new pg.Pool({ connectionString: req.target, max: req.connections });
  pool.on('error', () => {});
  const latencies: number[] = [];
  const errorSamples: string[] = [];
  let errors = 0;
  const warmupS = req.warmupS ?? 0;
  const deadline = performance.now() + (warmupS + req.durationS) * 1000;
  const span = window(id, warmupS);
  const loop = async () => {
    const client = await pool.connect();
    try {
      while (performance.now() < deadline) {
        const t = performance.now();
        try {
          await client.query({
            name: 'bench_feed',
            text: FEED_SQL,
            values: [pick(STATUSES), pick(PLATFORMS)],
          });
          if (span.measuring) latencies.push(performance.now() - t);
        } catch (err) {
          if (!span.measuring) continue;
          errors++;
          if (errorSamples.length < 5) errorSamples.push((err as Error).message);
        }
      }
    } finally {
      client.release();
    }
  };
  await Promise.all(Array.from({ length: req.connections }, loop));
  const durationS = (performance.now() - span.startedAt) / 1000;
  await pool.end();
  return {
    requests: latencies.length,
    durationS,
    latency: summarize(latencies),
    non2xx: 0,
    graphqlErrors: 0,
    transportErrors: errors,
    timeouts: 0,
    errorSamples,
  };
}

process.on('message', (message: ParentMessage) => {
  if (message.type === 'exit') process.exit(0);
  const { id, request } = message;
  const run = request.workload.kind === 'sql-feed' ? runSql(id, request) : runHttp(id, request);
  run.then(
    (result) => send({ type: 'result', id, result }),
    (err: Error) => send({ type: 'error', id, message: err.stack ?? err.message }),
  );
});
process.on('disconnect', () => process.exit(0));
