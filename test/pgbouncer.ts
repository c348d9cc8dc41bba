/**
 * A real PgBouncer for tests (Debian's `pgbouncer`, 1.18 here), started with its own ini file on
 * its own port in front of the test PostgreSQL server, and stopped by the test.
 *
 *   const bouncer = await startPgBouncer({ mode: 'transaction' });
 *   bouncer.urlFor(databaseUrl)   // the same database, through the pooler
 *   await bouncer.stop();
 *
 * `PGBOUNCER_MISSING` is a sentence naming the missing program (undefined when installed), for
 * `describe.skipIf(PGBOUNCER_MISSING)`.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { eventually } from './wait.ts';

/** The pgbouncer executable: on PATH, or in /usr/sbin (Debian puts it there). */
export function findPgBouncer(): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin']) {
    if (dir && existsSync(path.join(dir, 'pgbouncer'))) return path.join(dir, 'pgbouncer');
  }
  return undefined;
}

export const PGBOUNCER_MISSING = findPgBouncer()
  ? undefined
  : 'pgbouncer is not installed (apt-get install -y pgbouncer): skipping the tests through PgBouncer';

export interface PgBouncerOptions {
  /** `transaction` (what a managed pooler usually runs), `session` or `statement`. */
  mode: 'transaction' | 'session' | 'statement';
  /** Port to listen on (default: a free one). */
  port?: number;
  /** The PostgreSQL server behind it (default: the host and port of TEST_DATABASE_URL/DATABASE_URL, or 127.0.0.1:5432; tests pass the URL of their own database, which may be on an embedded server). */
  serverUrl?: string;
  /** Server connections per database/user pair (default 10). */
  poolSize?: number;
  /** Extra `[pgbouncer]` settings, e.g. `{ max_client_conn: '2000' }`. */
  settings?: Record<string, string>;
}

export interface PgBouncer {
  port: number;
  mode: PgBouncerOptions['mode'];
  /** `databaseUrl` with its host and port replaced by the pooler's. */
  urlFor(databaseUrl: string): string;
  /** PgBouncer's log so far (its errors show up here). */
  log(): string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts PgBouncer and waits until it answers a query; as root it runs as `nobody` (`-u`). */
export async function startPgBouncer(opts: PgBouncerOptions): Promise<PgBouncer> {
  const bin = findPgBouncer();
  if (!bin) throw new Error(PGBOUNCER_MISSING);
  const server = new URL(
    opts.serverUrl ??
      process.env.TEST_DATABASE_URL ??
      process.env.DATABASE_URL ??
      'postgresql://postgres@127.0.0.1:5432/postgres',
  );
  const port = opts.port ?? (await freePort());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'postline-pgbouncer-'));
  // PgBouncer refuses to run as root; as `nobody` it must still read and write its directory.
  chmodSync(dir, 0o777);
  const user = decodeURIComponent(server.username || 'postgres');
  const password = decodeURIComponent(server.password);
  const settings: Record<string, string> = {
    listen_addr: '127.0.0.1',
    listen_port: String(port),
    unix_socket_dir: '',
    pool_mode: opts.mode,
    // `any`: clients are not authenticated; every server login uses the user below.
    auth_type: 'any',
    max_client_conn: '1000',
    default_pool_size: String(opts.poolSize ?? 10),
    // pg sends these as startup parameters; PgBouncer 1.18 refuses unknown ones.
    ignore_startup_parameters: 'extra_float_digits,statement_timeout,options',
    logfile: path.join(dir, 'pgbouncer.log'),
    server_login_retry: '1',
    ...opts.settings,
  };
  const serverConn = [
    `host=${server.hostname}`,
    `port=${server.port || 5432}`,
    `user=${user}`,
    password ? `password=${password}` : '',
  ]
    .filter(Boolean)
    .join(' ');
  const ini = [
    '[databases]',
    `* = ${serverConn}`,
    '[pgbouncer]',
    ...Object.entries(settings).map(([k, v]) => `${k} = ${v}`),
    '',
  ].join('\n');
  const iniPath = path.join(dir, 'pgbouncer.ini');
  writeFileSync(iniPath, ini, { mode: 0o644 });
  const args = process.getuid?.() === 0 ? ['-u', 'nobody', iniPath] : [iniPath];
  const child: ChildProcess = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d) => {
    output += String(d);
  });
  child.stderr?.on('data', (d) => {
    output += String(d);
  });
  let exited: number | null | undefined;
  child.on('exit', (code) => {
    exited = code;
  });
  const log = () => {
    let file = '';
    try {
      file = execFileSync('cat', [settings.logfile as string], { encoding: 'utf8' });
    } catch {}
    return output + file;
  };
  const stop = async () => {
    if (exited === undefined) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      // SIGTERM waits for clients in some versions; SIGINT is "safe shutdown", SIGKILL the floor.
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const db = new URL(server.toString());
  db.host = `127.0.0.1:${port}`;
  try {
    await eventually(
      async () => {
        if (exited !== undefined) throw new Error(`pgbouncer exited (${exited}): ${log()}`);
        const client = new pg.Client({ connectionString: db.toString() });
        client.on('error', () => {});
        try {
          await client.connect();
          await client.query('SELECT 1');
          return true;
        } catch {
          return false;
        } finally {
          await client.end().catch(() => {});
        }
      },
      { timeoutMs: 15_000, intervalMs: 100, what: 'pgbouncer answering' },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    port,
    mode: opts.mode,
    urlFor(databaseUrl) {
      const u = new URL(databaseUrl);
      u.host = `127.0.0.1:${port}`;
      return u.toString();
    },
    log,
    stop,
  };
}
