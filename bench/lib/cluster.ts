/**
 * The scale-out topology on one machine, from real programs: PgBouncer in transaction mode in
 * front of PostgreSQL for the API, N Postline API processes (`node dist/server.js`, production)
 * behind HAProxy (round robin, health checks on /ready), M workers (`dist/jobs/worker-main.js`) straight
 * to PostgreSQL (graphile-worker needs a session: LISTEN/NOTIFY, advisory locks), and the local
 * Redis shared by all of them. `npm run cluster`, `npm run bench:scale` and
 * test/cluster.test.ts start it through `startCluster`.
 *
 * Every program runs in a process group of its own and is stopped with its group, on
 * `stop()`, on the harness's SIGINT/SIGTERM (bench/lib/cleanup.ts) and, as a last resort, when
 * the harness process exits: nothing is left running.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { applyMigrations } from '../../src/db/migrations.ts';
import { installWorkerSchema } from '../../src/jobs/runner.ts';
import { onCleanup } from './cleanup.ts';
import { parseProcStat } from './cpu.ts';
import { BENCH_METRICS_TOKEN, freePort } from './server.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// ---- programs ------------------------------------------------------------------------

const SBIN = ['/usr/sbin', '/usr/local/sbin', '/sbin'];

/** The path of `name` on PATH or in the sbin folders (Debian puts both programs there). */
export function findProgram(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...SBIN];
  for (const dir of dirs) {
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

/** Which of the programs the topology needs are not installed (empty: all are). */
export function missingPrograms(opts: { direct?: boolean } = {}): string[] {
  const needed = opts.direct ? ['haproxy'] : ['pgbouncer', 'haproxy'];
  return needed.filter((p) => findProgram(p) === null);
}

// ---- process groups ----------------------------------------------------------------

/** Groups still running, killed synchronously if the harness exits without stopping them. */
const liveGroups = new Set<number>();
process.once('exit', () => {
  for (const pgid of liveGroups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Date.now() when the harness saw it (its sockets were closed by then). */
  at: number;
}

/** One program in a process group of its own (its pid is the group id). */
export class Program {
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  exit: Exit | null = null;
  #tail = '';

  constructor(
    readonly name: string,
    command: string,
    args: string[],
    opts: {
      env: Record<string, string>;
      cwd?: string;
      /** Called with each line of stdout (stderr lines are kept for errors and echoed). */
      onLine?: (line: string) => void;
      echoStderr?: boolean;
    },
  ) {
    this.child = spawn(command, args, {
      cwd: opts.cwd ?? root,
      env: opts.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const pid = this.child.pid;
    if (pid) liveGroups.add(pid);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        if (pid) liveGroups.delete(pid);
        // The group may outlive its leader (forked children): take it down too.
        if (pid) signalGroup(pid, 'SIGKILL');
        this.exit = { code, signal, at: Date.now() };
        resolve(this.exit);
      });
    });
    let partial = '';
    this.child.stdout?.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      this.#keep(text);
      if (!opts.onLine) return;
      partial += text;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) opts.onLine(line);
    });
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.#keep(chunk.toString());
      if (opts.echoStderr !== false) process.stderr.write(prefixLines(`[${name}] `, chunk));
    });
  }

  #keep(text: string) {
    this.#tail = (this.#tail + text).slice(-4000);
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }
  get running(): boolean {
    return this.exit === null;
  }
  /** The last few KB of its output, for error messages. */
  output(): string {
    return this.#tail;
  }

  /** Sends `signal` to the leader only (it forwards to its workers, if any). */
  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** SIGKILL to the whole group; resolves when the leader is gone. */
  async kill(): Promise<Exit> {
    if (this.running) signalGroup(this.pid, 'SIGKILL');
    return this.exited;
  }

  /** SIGTERM, then SIGKILL to the group after `graceMs`; resolves on exit. */
  async stop(graceMs = 15_000): Promise<Exit> {
    if (!this.running) return this.exited;
    this.signal('SIGTERM');
    const timer = setTimeout(() => signalGroup(this.pid, 'SIGKILL'), graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // the group is gone
  }
}

const prefixLines = (prefix: string, chunk: Buffer) =>
  chunk
    .toString()
    .split('\n')
    .map((l, i, all) => (i === all.length - 1 && l === '' ? '' : `${prefix}${l}`))
    .join('\n');

/** Pids of every process in group `pgid` (the leader and what it forked), from /proc. */
export function groupPids(pgid: number): number[] {
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [pgid];
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // fields[0] is field 3 (state); the process group is field 5.
      if (Number(fields[2]) === pgid) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** CPU seconds used so far by every live process of group `pgid`. */
export function groupCpuSeconds(pgid: number): number {
  let total = 0;
  for (const pid of groupPids(pgid)) {
    try {
      total += parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      // exited meanwhile
    }
  }
  return total;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  failFast?: () => string | null,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const problem = failFast?.();
    if (problem) throw new Error(problem);
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await sleep(100);
  }
}

// ---- the pieces ----------------------------------------------------------------------

export interface ApiInstance {
  /** `api1`, `api2`...: also its HAProxy server name. */
  name: string;
  port: number;
  /** `http://127.0.0.1:PORT`, the instance itself (not through HAProxy). */
  baseUrl: string;
  program: Program;
}

export interface WorkerInstance {
  name: string;
  program: Program;
  /** graphile-worker pool id (the `locked_by` of its jobs), printed by the worker at start. */
  runnerId: string;
}

/** One HTTP request as HAProxy logged it. */
export interface RequestLogEntry {
  /** Server that answered (`api1`...), or `<NOSRV>`. */
  server: string;
  /** HTTP status sent to the client (-1: none). */
  status: number;
  /** HAProxy's termination state (`----` for a normal end; `SH--` server aborted...). */
  termination: string;
  /** Date.now() time the request's first byte arrived, and the last byte of the response left. */
  start: number;
  end: number;
  /** Connection retries (a `+` prefix in HAProxy's log means a redispatch). */
  retries: string;
}

export interface ServerState {
  /** `UP`, `DOWN`, `MAINT`, `UP 1/2` (going down), `DOWN 1/2` (coming up), `no check`. */
  status: string;
  /** Requests in progress on it right now. */
  current: number;
  /** Requests sent to it so far. */
  total: number;
  /** Counters so far: responses cut off by the server (`srv_abrt`), response errors
   * (`eresp`), connection errors (`econ`), retries (`wretr`) and redispatches (`wredis`). */
  serverAborts: number;
  responseErrors: number;
  connectionErrors: number;
  retries: number;
  redispatches: number;
}

export interface ClusterOptions {
  /** The database, direct (PostgreSQL itself): migrated here, and used by the workers. */
  databaseUrl: string;
  redisUrl: string;
  instances?: number;
  workers?: number;
  /** WEB_CONCURRENCY of each API instance (processes per instance); unset: not passed. */
  webConcurrency?: number;
  /** No PgBouncer: the API instances connect to PostgreSQL directly. */
  direct?: boolean;
  /** Shared by the instances and workers (tokens and cursors are valid on all of them). */
  jwtSecret?: string;
  /** Extra environment of the API instances (after the harness's own). */
  apiEnv?: Record<string, string>;
  /** Extra environment of the workers. */
  workerEnv?: Record<string, string>;
  /** Keep HAProxy's per-request log (test/cluster.test.ts); costs some CPU. */
  requestLog?: boolean;
  /** PgBouncer's server connections per database/user pair. */
  pgbouncerPoolSize?: number;
  log?: (line: string) => void;
}

/** How long a SIGTERMed API instance keeps answering /ready with 503 before it stops. */
export const DRAIN_MS = 3000;
/** Requests HAProxy sends to one instance at a time (the rest queue at HAProxy). */
export const SERVER_MAXCONN = 16;
/** HAProxy's health check interval (ms); CHECK_FALL failures mark a server down. */
export const CHECK_INTER_MS = 250;
export const CHECK_FALL = 3;

export class Cluster {
  readonly id = `c${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  readonly apis: ApiInstance[] = [];
  readonly workers: WorkerInstance[] = [];
  /** HAProxy's front end: what clients use. */
  lbUrl = '';
  /** What the API instances use as DATABASE_URL (PgBouncer's, or the direct one). */
  apiDatabaseUrl = '';
  pgbouncer: { program: Program; port: number } | null = null;
  haproxy: { program: Program; port: number; socket: string } | null = null;
  readonly requests: RequestLogEntry[] = [];
  readonly jwtSecret: string;
  readonly redisPrefix: string;
  #dir = '';
  #stopped = false;
  readonly #log: (line: string) => void;
  #unregister: (() => Promise<void>) | null = null;

  constructor(readonly options: ClusterOptions) {
    this.jwtSecret = options.jwtSecret ?? randomBytes(32).toString('hex');
    this.redisPrefix = `postline:cluster:${this.id}:`;
    this.#log = options.log ?? (() => {});
  }

  // -- start ---------------------------------------------------------------------------

  async start(): Promise<this> {
    const missing = missingPrograms({ direct: this.options.direct });
    if (missing.length) {
      throw new Error(
        `not installed: ${missing.join(', ')} (apt-get install -y ${missing.join(' ')})`,
      );
    }
    this.#unregister = onCleanup(`cluster ${this.id}`, () => this.stop());
    try {
      // The compiled build, what `npm start` runs: it starts in a fraction of the time tsx
      // takes, which is what a restart under load waits for. Built here when src/ is newer.
      await buildDist();
      this.#dir = await mkdtemp(path.join(os.tmpdir(), 'postline-cluster-'));
      await chmod(this.#dir, 0o755);
      // Migrations and graphile-worker's schema go straight to PostgreSQL (they take session
      // advisory locks); the instances' own start-up check then finds nothing to do.
      await applyMigrations(this.options.databaseUrl);
      await installWorkerSchema(this.options.databaseUrl);
      this.apiDatabaseUrl = this.options.direct
        ? this.options.databaseUrl
        : await this.#startPgBouncer();
      const count = this.options.instances ?? 2;
      const ports = await Promise.all(Array.from({ length: count }, () => freePort()));
      // Started one after the other: two at once on two cores take longer than in turn.
      for (const [i, port] of ports.entries()) {
        const name = `api${i + 1}`;
        const instance: ApiInstance = {
          name,
          port,
          baseUrl: `http://127.0.0.1:${port}`,
          program: await this.#spawnApi(name, port),
        };
        this.apis.push(instance);
      }
      await this.#startHaproxy();
      for (let i = 0; i < (this.options.workers ?? 2); i++) {
        this.workers.push(await this.#spawnWorker(`worker${i + 1}`));
      }
      await Promise.all(this.apis.map((a) => this.waitInRotation(a.name)));
      return this;
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async #startPgBouncer(): Promise<string> {
    const direct = new URL(this.options.databaseUrl);
    const port = await freePort();
    const user = decodeURIComponent(direct.username || 'postgres');
    const ini = path.join(this.#dir, 'pgbouncer.ini');
    const users = path.join(this.#dir, 'userlist.txt');
    await writeFile(users, `"${user}" "${decodeURIComponent(direct.password)}"\n`, { mode: 0o644 });
    await writeFile(
      ini,
      [
        '[databases]',
        // Any database name is passed through to the server behind.
        `* = host=${direct.hostname} port=${direct.port || 5432}`,
        '',
        '[pgbouncer]',
        'listen_addr = 127.0.0.1',
        `listen_port = ${port}`,
        'unix_socket_dir =',
        'auth_type = trust',
        `auth_file = ${users}`,
        'pool_mode = transaction',
        `default_pool_size = ${this.options.pgbouncerPoolSize ?? 20}`,
        'max_client_conn = 2000',
        'reserve_pool_size = 0',
        'server_lifetime = 3600',
        'server_idle_timeout = 60',
        // pg sends these as start-up parameters; PgBouncer 1.18 refuses unknown ones.
        // statement_timeout is then not applied per connection (README: "Deploying").
        'ignore_startup_parameters = extra_float_digits,statement_timeout,options',
        'logfile =',
        'pidfile =',
        'log_connections = 0',
        'log_disconnections = 0',
        'stats_period = 3600',
        '',
      ].join('\n'),
      { mode: 0o644 },
    );
    // PgBouncer refuses to run as root; it switches to the PostgreSQL account (-u).
    const asRoot = process.getuid?.() === 0;
    const args = asRoot ? ['-u', 'postgres', ini] : [ini];
    const program = new Program('pgbouncer', findProgram('pgbouncer') as string, args, {
      env: process.env as Record<string, string>,
      // Its log (kept for errors) says little a run needs; clients see its errors.
      echoStderr: false,
    });
    this.pgbouncer = { program, port };
    const url = new URL(this.options.databaseUrl);
    url.port = String(port);
    await until(
      'PgBouncer accepting connections',
      15_000,
      () => tcpOpen(port),
      () => (program.running ? null : `pgbouncer exited:\n${program.output()}`),
    );
    this.#log(`PgBouncer (transaction mode) on 127.0.0.1:${port}, pid ${program.pid}`);
    return url.toString();
  }

  #apiEnv(port: number): Record<string, string> {
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: this.apiDatabaseUrl,
      // Migrations' advisory lock (and anything else that needs a session) go direct.
      DATABASE_SESSION_URL: this.options.databaseUrl,
      REDIS_URL: this.options.redisUrl,
      RESPONSE_CACHE: 'redis',
      CACHE_REDIS_PREFIX: `${this.redisPrefix}rc:`,
      APQ_REDIS_PREFIX: `${this.redisPrefix}apq:`,
      LOGIN_THROTTLE_REDIS_PREFIX: `${this.redisPrefix}login:`,
      // Jobs run in the worker processes only.
      WORKER_MODE: 'separate',
      JWT_SECRET: this.jwtSecret,
      METRICS_TOKEN: BENCH_METRICS_TOKEN,
      SEED_ON_START: 'false',
      // Graceful stop (src/server.ts): /ready answers 503 for this long first, so HAProxy
      // (checks every CHECK_INTER_MS, `fall CHECK_FALL`) takes the instance out before it stops.
      SHUTDOWN_DRAIN_MS: String(DRAIN_MS),
      SHUTDOWN_TIMEOUT_MS: '15000',
      // The harness knows the topology: one pool per instance, sized for a 2-core machine.
      DB_POOL_SIZE: '10',
      DB_POOL_MAX_OVERFLOW: '10',
    };
    if (!this.options.direct) env.DB_PREPARED_STATEMENTS = 'off';
    if (this.options.webConcurrency) env.WEB_CONCURRENCY = String(this.options.webConcurrency);
    return { ...env, ...(this.options.apiEnv ?? {}) };
  }

  async #spawnApi(name: string, port: number): Promise<Program> {
    const program = new Program(name, process.execPath, ['dist/server.js'], {
      env: this.#apiEnv(port),
      // Its log is JSON on stdout: errors (pino level 50 and up) are worth seeing.
      onLine: (line) => {
        if (/"level":(50|60)/.test(line)) this.#log(`${name}: ${line}`);
      },
    });
    await until(
      `${name} ready`,
      120_000,
      async () => {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/ready`);
          await res.arrayBuffer();
          return res.ok;
        } catch {
          return false;
        }
      },
      () => (program.running ? null : `${name} exited before it was ready:\n${program.output()}`),
    );
    this.#log(`${name} on 127.0.0.1:${port}, pid ${program.pid}`);
    return program;
  }

  async #spawnWorker(name: string): Promise<WorkerInstance> {
    let runnerId = '';
    let announced: () => void = () => {};
    const ready = new Promise<void>((resolve) => {
      announced = resolve;
    });
    const program = new Program(name, process.execPath, ['dist/jobs/worker-main.js'], {
      env: {
        ...(process.env as Record<string, string>),
        NODE_ENV: 'production',
        LOG_LEVEL: 'warn',
        // A session: graphile-worker LISTENs and takes advisory locks.
        DATABASE_URL: this.options.databaseUrl,
        REDIS_URL: this.options.redisUrl,
        RESPONSE_CACHE: 'redis',
        CACHE_REDIS_PREFIX: `${this.redisPrefix}rc:`,
        JWT_SECRET: this.jwtSecret,
        STORAGE_DIR: path.join(this.#dir, 'storage'),
        MAIL_DIR: path.join(this.#dir, 'mail'),
        SHUTDOWN_TIMEOUT_MS: '15000',
        ...(this.options.workerEnv ?? {}),
      },
      onLine: (line) => {
        const m = /^worker (\S+) ready/.exec(line);
        if (m?.[1]) {
          runnerId = m[1];
          announced();
        }
      },
    });
    await until(
      `${name} ready`,
      120_000,
      async () => await Promise.race([ready.then(() => true), sleep(100).then(() => false)]),
      () => (program.running ? null : `${name} exited before it was ready:\n${program.output()}`),
    );
    this.#log(`${name} (runner ${runnerId}), pid ${program.pid}, direct to PostgreSQL`);
    return { name, program, runnerId };
  }

  async #startHaproxy(): Promise<void> {
    const port = await freePort();
    const socket = path.join(this.#dir, 'haproxy.sock');
    const cfg = path.join(this.#dir, 'haproxy.cfg');
    const log = this.options.requestLog;
    await writeFile(
      cfg,
      [
        'global',
        `  stats socket ${socket} mode 600 level admin`,
        '  maxconn 4096',
        // Health-check transitions always, each request only when asked (stdout, parsed).
        '  log stdout format raw local0',
        '',
        'defaults',
        '  mode http',
        '  log global',
        log
          ? '  log-format "rq %Ts %ms %Th %Ti %s %ST %tsc %Ta %rc"'
          : '  option httplog\n  option dontlog-normal',
        '  option dontlognull',
        '  option http-keep-alive',
        '  timeout connect 2s',
        '  timeout client 60s',
        '  timeout server 60s',
        '  timeout http-keep-alive 10s',
        '  timeout http-request 10s',
        '  timeout queue 30s',
        // A busy instance may take a while to answer /ready (it queries the pool, which is
        // busy under load): slow is not down. A stopped instance refuses the connection and a
        // draining one answers 503, both at once, so a long check timeout delays neither.
        '  timeout check 10s',
        // A connection refused (an instance just killed) is retried, each retry on another
        // instance (`redispatch 1`). Only connection failures: a POST that reached an instance
        // is never sent twice (a mutation could run twice).
        '  retries 3',
        '  option redispatch 1',
        '  retry-on conn-failure',
        '',
        'frontend postline',
        `  bind 127.0.0.1:${port}`,
        '  default_backend api',
        '',
        'backend api',
        '  balance roundrobin',
        // A new connection to an instance per request (clients keep theirs to HAProxy): an
        // instance that dies then cuts off only the requests it is running (502, logged `SH`).
        // With server connections kept alive, HAProxy closes, unlogged, the client connections
        // whose idle server connection was on it, and the request a client sends at that
        // moment is lost though it never reached the instance.
        '  option http-server-close',
        '  option httpchk',
        '  http-check send meth GET uri /ready',
        '  http-check expect status 200',
        // Checks every 250 ms; three failures take an instance out, two successes put it back.
        // Traffic is watched too (`observe layer4`): the first connection an instance refuses
        // marks it down at once, so requests stop going to a dead instance before its checks
        // notice, and the refused request itself is redispatched to another one.
        `  default-server inter ${CHECK_INTER_MS} fastinter ${CHECK_INTER_MS} downinter 500 rise 2 fall ${CHECK_FALL}`,
        '  default-server observe layer4 error-limit 1 on-error mark-down',
        // At most SERVER_MAXCONN requests at a time on an instance; more wait in HAProxy's queue
        // (an instance's event loop stays responsive, /ready included, when the other is down).
        ...this.apis.map(
          (a) => `  server ${a.name} 127.0.0.1:${a.port} check maxconn ${SERVER_MAXCONN}`,
        ),
        '',
      ].join('\n'),
    );
    const program = new Program('haproxy', findProgram('haproxy') as string, ['-db', '-f', cfg], {
      env: process.env as Record<string, string>,
      onLine: (line) => this.#haproxyLine(line),
      // Its warnings also reach the log on stdout.
      echoStderr: false,
    });
    this.haproxy = { program, port, socket };
    await until(
      'HAProxy listening',
      15_000,
      () => tcpOpen(port),
      () => (program.running ? null : `haproxy exited:\n${program.output()}`),
    );
    this.lbUrl = `http://127.0.0.1:${port}`;
    this.#log(`HAProxy on 127.0.0.1:${port} (stats socket ${socket}), pid ${program.pid}`);
  }

  #haproxyLine(line: string): void {
    if (line.startsWith('rq ')) {
      // The request's first byte arrived at accept date + Th + Ti (a keep-alive request's
      // accept date is the end of the previous one); Ta runs from there to the last byte out.
      // A request cut off (no response) has Ta -1: it ended when HAProxy logged it, now.
      const [, ts, ms, th, ti, server, status, term, ta, retries] = line.split(' ');
      const start =
        Number(ts) * 1000 + Number(ms) + Math.max(0, Number(th)) + Math.max(0, Number(ti));
      this.requests.push({
        server: server ?? '',
        status: Number(status),
        termination: term ?? '',
        start,
        end: Number(ta) >= 0 ? start + Number(ta) : Date.now(),
        retries: retries ?? '0',
      });
      return;
    }
    if (line.trim()) this.#log(`haproxy: ${line.trim()}`);
  }

  // -- HAProxy's view --------------------------------------------------------------------

  /** Runs a command on HAProxy's admin socket; resolves with its answer. */
  async haproxyCommand(command: string): Promise<string> {
    const socket = this.haproxy?.socket;
    if (!socket) throw new Error('HAProxy is not running');
    return new Promise((resolve, reject) => {
      const conn = createConnection(socket);
      let out = '';
      conn.on('data', (d) => {
        out += d.toString();
      });
      conn.on('end', () => resolve(out));
      conn.on('error', reject);
      conn.write(`${command}\n`);
    });
  }

  /** Each API server's state as HAProxy sees it (`show stat`). */
  async servers(): Promise<Record<string, ServerState>> {
    const csv = await this.haproxyCommand('show stat');
    const [header, ...rows] = csv.trim().split('\n');
    const cols = (header ?? '').replace(/^# /, '').split(',');
    const at = (name: string) => cols.indexOf(name);
    const out: Record<string, ServerState> = {};
    for (const row of rows) {
      const f = row.split(',');
      if (f[at('pxname')] !== 'api') continue;
      const sv = f[at('svname')] ?? '';
      if (sv === 'BACKEND' || sv === 'FRONTEND') continue;
      out[sv] = {
        status: f[at('status')] ?? '',
        current: Number(f[at('scur')]),
        total: Number(f[at('stot')]),
        serverAborts: Number(f[at('srv_abrt')]),
        responseErrors: Number(f[at('eresp')]),
        connectionErrors: Number(f[at('econ')]),
        retries: Number(f[at('wretr')]),
        redispatches: Number(f[at('wredis')]),
      };
    }
    return out;
  }

  /** Waits until HAProxy sends requests to `name` again (its checks say UP). */
  async waitInRotation(name: string, timeoutMs = 60_000): Promise<void> {
    await until(`${name} UP in HAProxy`, timeoutMs, async () => {
      const s = (await this.servers())[name];
      return s?.status === 'UP';
    });
  }

  /** Waits until HAProxy no longer sends requests to `name`. */
  async waitOutOfRotation(name: string, timeoutMs = 30_000): Promise<void> {
    await until(`${name} DOWN in HAProxy`, timeoutMs, async () => {
      const s = (await this.servers())[name];
      return s?.status.startsWith('DOWN') === true;
    });
  }

  // -- restarts --------------------------------------------------------------------------

  api(name: string): ApiInstance {
    const a = this.apis.find((x) => x.name === name);
    if (!a) throw new Error(`no API instance ${name}`);
    return a;
  }

  /**
   * SIGKILL to the instance's process group; resolves with the kill time, its exit and the
   * number of requests HAProxy had in progress on it at the kill.
   */
  async killApi(
    name: string,
  ): Promise<{ killedAt: number; exit: Exit; inFlight: number; sentWhileDying: number }> {
    const a = this.api(name);
    // Frozen first (SIGSTOP), so that the requests in flight on it stay put while HAProxy's
    // count of them is read: it answers none, and HAProxy sends it more until its SERVER_MAXCONN
    // slots are taken (or a second has passed). Then SIGKILL: those requests are cut off.
    signalGroup(a.program.pid, 'SIGSTOP');
    let inFlight = 0;
    const deadline = Date.now() + 1000;
    for (;;) {
      inFlight = (await this.servers())[name]?.current ?? 0;
      if (inFlight >= SERVER_MAXCONN || Date.now() > deadline) break;
      await sleep(20);
    }
    const atKill = (await this.servers())[name];
    inFlight = atKill?.current ?? inFlight;
    const killedAt = Date.now();
    const exit = await a.program.kill();
    // Requests HAProxy sent to it while the kernel tore the process down: as the killed
    // connections free its slots, queued requests go to it, and one that reaches the listening
    // socket before it closes is cut off like those in flight (seen: up to 5 with 16 in flight).
    const atExit = (await this.servers())[name];
    const sentWhileDying = Math.max(0, (atExit?.total ?? 0) - (atKill?.total ?? 0));
    return { killedAt, exit, inFlight, sentWhileDying };
  }

  /**
   * SIGTERM to the instance (graceful: /ready 503, finish in-flight requests, exit); resolves
   * with its exit. Throws if it has not exited 0 within the shutdown timeout.
   */
  async stopApi(name: string): Promise<Exit> {
    const exit = await this.api(name).program.stop(30_000);
    if (exit.code !== 0) {
      throw new Error(`${name} did not exit cleanly on SIGTERM (${exit.signal ?? exit.code})`);
    }
    return exit;
  }

  /** Starts the (stopped) instance again on its port; resolves once HAProxy routes to it. */
  async startApi(name: string): Promise<void> {
    const a = this.api(name);
    if (a.program.running) throw new Error(`${name} is still running`);
    a.program = await this.#spawnApi(name, a.port);
    await this.waitInRotation(name);
  }

  worker(name: string): WorkerInstance {
    const w = this.workers.find((x) => x.name === name);
    if (!w) throw new Error(`no worker ${name}`);
    return w;
  }

  async killWorker(name: string): Promise<Exit> {
    return this.worker(name).program.kill();
  }

  async startWorker(name: string): Promise<WorkerInstance> {
    const i = this.workers.findIndex((x) => x.name === name);
    const old = this.workers[i];
    if (!old) throw new Error(`no worker ${name}`);
    if (old.program.running) throw new Error(`${name} is still running`);
    const fresh = await this.#spawnWorker(name);
    this.workers[i] = fresh;
    return fresh;
  }

  // -- figures ---------------------------------------------------------------------------

  /** CPU seconds used so far by the API processes (every instance, forked workers included). */
  apiCpuSeconds(): number {
    return this.apis.reduce((sum, a) => sum + groupCpuSeconds(a.program.pid), 0);
  }

  /** CPU seconds of PgBouncer and HAProxy. */
  proxyCpuSeconds(): number {
    return (
      (this.pgbouncer ? groupCpuSeconds(this.pgbouncer.program.pid) : 0) +
      (this.haproxy ? groupCpuSeconds(this.haproxy.program.pid) : 0)
    );
  }

  /** Where each piece listens, one line each. */
  describe(): string[] {
    const direct = new URL(this.options.databaseUrl);
    const lines = [
      `HAProxy          ${this.lbUrl}/graphql   (round robin, checks GET /ready every ${CHECK_INTER_MS} ms)`,
    ];
    for (const a of this.apis) {
      lines.push(
        `${a.name.padEnd(16)} ${a.baseUrl}/graphql   (pid ${a.program.pid}${this.options.webConcurrency ? `, WEB_CONCURRENCY=${this.options.webConcurrency}` : ''})`,
      );
    }
    if (this.pgbouncer) {
      lines.push(
        `PgBouncer        127.0.0.1:${this.pgbouncer.port}   (transaction mode; the API instances' DATABASE_URL)`,
      );
    }
    lines.push(
      `PostgreSQL       ${direct.hostname}:${direct.port || 5432}${direct.pathname}   (the workers' DATABASE_URL${this.pgbouncer ? '' : " and the API instances'"})`,
    );
    for (const w of this.workers) {
      lines.push(`${w.name.padEnd(16)} pid ${w.program.pid}, runner ${w.runnerId}`);
    }
    lines.push(`Redis            ${this.options.redisUrl}   (keys under ${this.redisPrefix})`);
    return lines;
  }

  // -- stop ------------------------------------------------------------------------------

  /** Stops everything (workers and instances gracefully, then the proxies); idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    // The load balancer first: its health checks would only report the instances going.
    await this.haproxy?.program.stop(5000);
    await Promise.all([
      ...this.workers.map((w) => w.program.stop()),
      ...this.apis.map((a) => a.program.stop()),
    ]);
    await this.pgbouncer?.program.stop(5000);
    await this.#clearRedis().catch(() => {});
    if (this.#dir) await rm(this.#dir, { recursive: true, force: true });
    const unregister = this.#unregister;
    this.#unregister = null;
    // Not awaited from inside the cleanup run itself (that would wait for itself).
    void unregister?.();
  }

  async #clearRedis(): Promise<void> {
    const redis = new Redis(this.options.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    redis.on('error', () => {});
    try {
      await redis.connect();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(
          cursor,
          'MATCH',
          `${this.redisPrefix}*`,
          'COUNT',
          1000,
        );
        cursor = next;
        if (keys.length) await redis.del(...keys);
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
  }
}

/** `npm run build` when dist/ is older than src/ (scripts/build.mjs --if-stale). */
async function buildDist(): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    execFile(
      process.execPath,
      [path.join(root, 'scripts/build.mjs'), '--if-stale'],
      { cwd: root, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`building dist/ failed:\n${stdout}${stderr}`)) : resolve(),
    );
  });
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = createConnection({ host: '127.0.0.1', port });
    conn.once('connect', () => {
      conn.destroy();
      resolve(true);
    });
    conn.once('error', () => resolve(false));
  });
}

/** Starts the topology; see `ClusterOptions`. */
export function startCluster(options: ClusterOptions): Promise<Cluster> {
  return new Cluster(options).start();
}

/** `PgBouncer 1.18.0` / `HAProxy version 2.6.12...`, for reports. */
export function programVersions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, args] of [
    ['pgbouncer', ['--version']],
    ['haproxy', ['-v']],
  ] as const) {
    const file = findProgram(name);
    if (!file) continue;
    try {
      out[name] =
        execFileSync(file, [...args], { encoding: 'utf8' })
          .split('\n')[0]
          ?.trim() ?? '';
    } catch {
      // unknown
    }
  }
  return out;
}
