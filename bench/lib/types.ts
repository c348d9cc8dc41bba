/** Shapes shared by the harness (parent process) and the load worker (child process). */

/** What the load worker needs to drive one GraphQL workload; plain data, sent over IPC. */
export type Workload =
  | { kind: 'typename' }
  | { kind: 'feed'; token: string }
  | { kind: 'deep-page'; token: string; field: string; cursor: string }
  | { kind: 'node'; token: string; minId: number; maxId: number }
  | { kind: 'dashboard'; token: string; clientIds: string[] }
  | { kind: 'mixed'; mixed: MixedFixture };

export interface MixedUser {
  email: string;
  role: string;
  token: string;
}

export interface MixedClient {
  /** Global ID of the client. */
  clientId: string;
  user: MixedUser;
  /** Global IDs of this client's posts that reads and writes share (the hot set). */
  posts: string[];
  /** Global IDs of this client's projects that take new posts. */
  projects: string[];
}

export interface MixedFixture {
  staff: MixedUser[];
  clients: MixedClient[];
  /** Deep-page cursors staff reads may use (CREATED_AT DESC). */
  cursors: string[];
  /** Marks titles written by this run, so the harness can find them afterwards. */
  runTag: string;
}

/** The raw SQL baselines: the same shapes as one statement each through `pg`. */
export type SqlWorkload =
  | { kind: 'sql-feed' }
  /** One post by id with its project and client names; ids drawn from the range. */
  | { kind: 'sql-node'; minId: number; maxId: number }
  /** The page after the row at the deep-page depth, newest first, by keyset. */
  | { kind: 'sql-deep'; createdAt: string; id: number };

export interface LoadRequest {
  /** Base URL of the server (`http://127.0.0.1:PORT`), or a database URL for `sql`. */
  target: string;
  connections: number;
  /** Seconds of load before measuring starts (same run, same connections); default 0. */
  warmupS?: number;
  /** Seconds measured after the warm-up (with `untilFinished`: at least this long). */
  durationS: number;
  /** Keep measuring after `durationS` until the parent sends `finish` for this run. */
  untilFinished?: boolean;
  workload: Workload | SqlWorkload;
  /** SQL workloads: connections the loops share (default: one each). */
  sqlPoolSize?: number;
}

/** Counts kept by the worker on top of autocannon's own. */
export interface LoadResult {
  requests: number;
  durationS: number;
  /** Latencies in milliseconds. */
  latency: { p50: number; p95: number; p99: number; mean: number; max: number };
  non2xx: number;
  graphqlErrors: number;
  transportErrors: number;
  timeouts: number;
  /** First few distinct error messages, for the report. */
  errorSamples: string[];
  /** mixed only: writes, checked reads after a write, and checks that saw old data. */
  writes?: number;
  checks?: number;
  staleReads?: number;
  /** SQL workloads: CPU seconds the load process itself (the `pg` client) used in the window. */
  clientCpuS?: number;
  /** HTTP workloads: each failed request (the first 5000): when it ended (Date.now()) and how. */
  failures?: Failure[];
}

export interface Failure {
  at: number;
  what: string;
}

export type WorkerMessage =
  /** The warm-up is over: measuring starts now (the parent scrapes /metrics). */
  | { type: 'warm'; id: number }
  /** The measured window is over (the parent reads the server's CPU time). */
  | { type: 'end'; id: number }
  | { type: 'result'; id: number; result: LoadResult }
  | { type: 'error'; id: number; message: string };

export type ParentMessage =
  | { type: 'run'; id: number; request: LoadRequest }
  /** An `untilFinished` run may end (now, or once its `durationS` is over). */
  | { type: 'finish'; id: number }
  | { type: 'exit' };
