/**
 * The load generator, run as its own process (forked by load-client.ts) so that it never
 * shares an event loop with the server or the harness. It receives one run at a time over
 * IPC and answers with plain figures.
 *
 * - GraphQL workloads: autocannon over loopback, variables drawn per request.
 * - `sql-feed`, `sql-node`, `sql-deep`: the feed page, the node lookup and the deep page as
 *   one SQL statement each through `pg`, N concurrent loops (the database baselines). The CPU
 *   time this process spends on them is reported: the `pg` client's cost per query.
 *
 * Each run warms up and measures under the same load, without a pause: responses before the
 * warm-up ends are not counted, and the parent is told when measuring starts.
 */
import { createRequire } from 'node:module';
import pg from 'pg';
import { DEEP_SQL, FEED_SQL, NODE_SQL, PLATFORMS, pick, STATUSES } from './queries.ts';
import { summarize } from './stats.ts';
import type {
  LoadRequest,
  LoadResult,
  ParentMessage,
  SqlWorkload,
  WorkerMessage,
} from './types.ts';
import { buildRequests, type CannonRequest, type Counters, recordFailure } from './workloads.ts';

interface CannonOptions {
  setupClient?: (client: CannonClient) => void;
  url: string;
  connections: number;
  duration: number;
  timeout: number;
  /** Sampling interval in ms; autocannon stops only on a sample tick. */
  sampleInt: number;
  requests: CannonRequest[];
}
interface CannonInstance extends PromiseLike<unknown> {
  on(
    event: 'response',
    fn: (client: unknown, status: number, bytes: number, ms: number) => void,
  ): void;
  on(event: 'reqError', fn: (error: Error) => void): void;
  stop(): void;
}
const autocannon = createRequire(import.meta.url)('autocannon') as (
  o: CannonOptions,
) => CannonInstance;

/** The parts of autocannon 8's per-connection client (lib/httpClient.js) used below. */
interface CannonClient {
  on(event: 'headers', fn: (info: { shouldKeepAlive?: boolean }) => void): void;
  _connect(): void;
  conn?: { destroyed: boolean; readableEnded: boolean };
  pipelinedRequests: { size(): number; clear(): void };
  requestIterator: { currentRequestIndex: number; requests: unknown[] };
}

/**
 * autocannon 8 leaves the requests it sent on a connection that then closed in its queue of
 * pending requests, so the responses on the next connection are matched to the wrong requests
 * (a mutation's response handed to the read that checks it: a false stale read), and the lost
 * request is never reported. Each client here drops them when it reconnects, and starts its
 * list of requests over (a read-after-write check must not follow a write that was lost). A
 * request sent after a response that announced `Connection: close` was never processed: only
 * autocannon, not a real client, sends one. Any other is a failure the user would see.
 */
function reconnectCleanly(counters: Counters) {
  return (client: CannonClient) => {
    let closing = false;
    client.on('headers', (info) => {
      closing = info.shouldKeepAlive === false;
    });
    const connect = client._connect;
    client._connect = function (this: CannonClient) {
      // A second event (`error` after `end`) of a connection already replaced: the current one
      // is live (still connecting, or open) and its request is not lost. Dropping it here would
      // count a request that was never cut off, and leave that connection open unwatched.
      if (this.conn && !this.conn.destroyed && !this.conn.readableEnded) return;
      const lost = this.conn ? this.pipelinedRequests.size() : 0;
      if (lost > 0) {
        if (!closing) {
          for (let i = 0; i < lost; i++) {
            recordFailure(counters, 'connection closed before the response');
          }
          if (counters.measuring) counters.lost += lost;
        }
        this.pipelinedRequests.clear();
        // The next request is then the first of the list, with a fresh context.
        this.requestIterator.currentRequestIndex = this.requestIterator.requests.length - 1;
      }
      closing = false;
      connect.call(this);
    };
  };
}

const send = (message: WorkerMessage) => process.send?.(message);

/** Longest warm-up allowed while waiting for a first response. */
const MAX_EXTRA_WARMUP_S = 15;

/**
 * The measured window of one run. Measuring starts once the warm-up time has passed and at
 * least one response has arrived (a cold first request can outlast a short warm-up), and
 * lasts `durationS`; then `onEnd` stops the load.
 */
function window(id: number, req: LoadRequest, hooks: { onBegin?: () => void; onEnd: () => void }) {
  const warmupS = req.warmupS ?? 0;
  const state = {
    measuring: false,
    ended: false,
    startedAt: performance.now(),
    endedAt: 0,
    responses: 0,
  };
  let timeUp = false;
  let forced = false;
  const maybeBegin = () => {
    if (state.measuring || !timeUp || (state.responses === 0 && !forced)) return;
    state.measuring = true;
    hooks.onBegin?.();
    state.startedAt = performance.now();
    send({ type: 'warm', id });
    setTimeout(() => {
      minimumOver = true;
      if (!req.untilFinished || finishAsked) end();
    }, req.durationS * 1000);
  };
  let minimumOver = false;
  let finishAsked = false;
  const end = () => {
    if (state.ended) return;
    state.ended = true;
    state.endedAt = performance.now();
    send({ type: 'end', id });
    hooks.onEnd();
  };
  finishers.set(id, () => {
    finishAsked = true;
    if (minimumOver) end();
  });
  setTimeout(() => {
    timeUp = true;
    maybeBegin();
  }, warmupS * 1000);
  setTimeout(
    () => {
      forced = true;
      maybeBegin();
    },
    (warmupS + MAX_EXTRA_WARMUP_S) * 1000,
  );
  return {
    state,
    /** Call on every response (counted or not). */
    response() {
      state.responses++;
      maybeBegin();
    },
  };
}

/** Ends an `untilFinished` run's window, by run id. */
const finishers = new Map<number, () => void>();

const isSql = (w: LoadRequest['workload']): w is SqlWorkload => w.kind.startsWith('sql-');

async function runHttp(id: number, req: LoadRequest): Promise<LoadResult> {
  if (isSql(req.workload)) throw new Error('not an HTTP workload');
  const counters: Counters = {
    measuring: false,
    graphqlErrors: 0,
    errorSamples: [],
    writes: 0,
    checks: 0,
    staleReads: 0,
    lost: 0,
    failures: [],
  };
  const latencies: number[] = [];
  let non2xx = 0;
  let transportErrors = 0;
  let timeouts = 0;
  const instance = autocannon({
    url: req.target,
    connections: req.connections,
    // An upper bound: the window below stops the run when the measured time is over.
    duration:
      (req.warmupS ?? 0) + MAX_EXTRA_WARMUP_S + req.durationS + (req.untilFinished ? 3600 : 5),
    timeout: 30,
    sampleInt: 100,
    setupClient: reconnectCleanly(counters),
    requests: buildRequests(req.workload, counters),
  });
  const win = window(id, req, {
    onBegin: () => {
      counters.measuring = true;
    },
    onEnd: () => instance.stop(),
  });
  const span = win.state;
  instance.on('response', (_client, status, _bytes, ms) => {
    win.response();
    if (!span.measuring || span.ended) return;
    latencies.push(ms);
    if (status < 200 || status > 299) {
      non2xx++;
      recordFailure(counters, `HTTP ${status}`);
    }
  });
  instance.on('reqError', (error) => {
    if (!span.measuring || span.ended) return;
    if (/timed out/.test(error.message)) timeouts++;
    else transportErrors++;
    recordFailure(counters, error.message);
    if (counters.errorSamples.length < 5) counters.errorSamples.push(error.message);
  });
  await instance;
  return {
    requests: latencies.length,
    durationS: (span.endedAt - span.startedAt) / 1000,
    latency: summarize(latencies),
    non2xx,
    graphqlErrors: counters.graphqlErrors,
    // Requests lost with their connection count as transport errors.
    transportErrors: transportErrors + counters.lost,
    timeouts,
    errorSamples: counters.errorSamples,
    failures: counters.failures,
    ...(req.workload.kind === 'mixed'
      ? { writes: counters.writes, checks: counters.checks, staleReads: counters.staleReads }
      : {}),
  };
}

/** The statement a SQL workload runs, with fresh parameters per call. */
function sqlQuery(w: SqlWorkload): () => pg.QueryConfig {
  switch (w.kind) {
    case 'sql-feed':
      return () => ({
        name: 'bench_feed',
        text: FEED_SQL,
        values: [pick(STATUSES), pick(PLATFORMS)],
      });
    case 'sql-node': {
      const span = w.maxId - w.minId + 1;
      return () => ({
        name: 'bench_node',
        text: NODE_SQL,
        values: [w.minId + Math.floor(Math.random() * span)],
      });
    }
    case 'sql-deep':
      return () => ({ name: 'bench_deep', text: DEEP_SQL, values: [w.createdAt, w.id] });
  }
}

async function runSql(id: number, req: LoadRequest): Promise<LoadResult> {
  if (!isSql(req.workload)) throw new Error('not a SQL workload');
  const next = sqlQuery(req.workload);
  const pool = new pg.Pool({
    connectionString: req.target,
    max: Math.min(req.connections, req.sqlPoolSize ?? req.connections),
  });
  pool.on('error', () => {});
  const latencies: number[] = [];
  const errorSamples: string[] = [];
  let errors = 0;
  let cpuAtStart: NodeJS.CpuUsage | null = null;
  let cpuInWindow: NodeJS.CpuUsage | null = null;
  const win = window(id, req, {
    onBegin: () => {
      cpuAtStart = process.cpuUsage();
    },
    onEnd: () => {
      if (cpuAtStart) cpuInWindow = process.cpuUsage(cpuAtStart);
    },
  });
  const span = win.state;
  const loop = async () => {
    while (!span.ended) {
      const t = performance.now();
      try {
        await pool.query(next());
        win.response();
        if (span.measuring && !span.ended) latencies.push(performance.now() - t);
      } catch (err) {
        win.response();
        if (span.measuring && !span.ended) {
          errors++;
          if (errorSamples.length < 5) errorSamples.push((err as Error).message);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  await Promise.all(Array.from({ length: req.connections }, loop));
  const durationS = (span.endedAt - span.startedAt) / 1000;
  await pool.end();
  const cpu = cpuInWindow as NodeJS.CpuUsage | null;
  return {
    requests: latencies.length,
    durationS,
    latency: summarize(latencies),
    non2xx: 0,
    graphqlErrors: 0,
    transportErrors: errors,
    timeouts: 0,
    errorSamples,
    ...(cpu ? { clientCpuS: (cpu.user + cpu.system) / 1e6 } : {}),
  };
}

process.on('message', (message: ParentMessage) => {
  if (message.type === 'exit') process.exit(0);
  if (message.type === 'finish') return finishers.get(message.id)?.();
  const { id, request } = message;
  const run = isSql(request.workload) ? runSql(id, request) : runHttp(id, request);
  const forget = () => finishers.delete(id);
  run.then(forget, forget);
  run.then(
    (result) => send({ type: 'result', id, result }),
    (err: Error) => send({ type: 'error', id, message: err.stack ?? err.message }),
  );
});
process.on('disconnect', () => process.exit(0));
