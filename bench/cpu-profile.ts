/**
 * Where a request's CPU goes: starts a production server with the inspector on, drives one
 * scenario with autocannon for a warm-up, then profiles the server (V8's sampling profiler over
 * the inspector protocol) while the load goes on, and prints the profile's self time grouped by
 * package / source file, and the top functions. Start-up is not in the profile.
 *
 *   node --import tsx bench/cpu-profile.ts --scenario feed --seconds 8 [--db postline_bench_50000] [--node <bin>] [--env K=V]
 *     [--random-ids N] (node: random posts 1..N, nearly every lookup a cache miss)
 *
 * Needs a global WebSocket (Node 22+; on Node 20 run it with --experimental-websocket).
 *
 * Scenarios: typename, feed, node, deep (the queries of bench/lib/queries.ts, as the admin).
 * The figures are shares of the server's CPU time, so they hold on a busy machine too.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { processCpuSeconds } from './lib/cpu.ts';
import { bodySource, DEEP_PAGE, FEED, NODE, PLATFORMS, STATUSES, TYPENAME } from './lib/queries.ts';
import { freePort, scriptServerEnv } from './lib/server.ts';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'feed' },
    seconds: { type: 'string', default: '8' },
    connections: { type: 'string', default: '16' },
    db: { type: 'string', default: 'postline_bench_50000' },
    node: { type: 'string', default: process.execPath },
    env: { type: 'string', multiple: true, default: [] },
    top: { type: 'string', default: '40' },
    entry: { type: 'string', default: '' },
    warmup: { type: 'string', default: '3' },
    // node: each request looks up a random post id in 1..N (nearly every one a cache miss)
    'random-ids': { type: 'string' },
  },
});

const root = path.resolve(import.meta.dirname, '..');
const dir = await mkdtemp(path.join(os.tmpdir(), 'postline-cpuprof-'));
const port = await freePort();
const inspectPort = await freePort();
const extraEnv = Object.fromEntries((values.env ?? []).map((kv) => kv.split(/=(.*)/s).slice(0, 2)));
const entry = values.entry || 'src/server.ts';
const inspect = `--inspect=127.0.0.1:${inspectPort}`;
const args = entry.endsWith('.ts') ? [inspect, '--import', 'tsx', entry] : [inspect, entry];
const server = spawn(values.node as string, args, {
  cwd: root,
  env: {
    ...scriptServerEnv({
      port,
      db: values.db as string,
      jwtSecret: 'cpu-profile-secret-cpu-profile-secret-0123',
      logLevel: 'warn',
    }),
    ...extraEnv,
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});
const base = `http://127.0.0.1:${port}`;
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${base}/health`)).ok) break;
  } catch {}
  if (i > 600) throw new Error('server did not start');
  await new Promise((r) => setTimeout(r, 200));
}

async function gql(query: string, variables: Record<string, unknown>, token?: string) {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as { data: any; errors?: unknown[] };
}

const login = await gql(
  'mutation($e: String!, $p: String!) { login(input: { email: $e, password: $p }) { token } }',
  { e: 'admin@postline.dev', p: 'postline-demo' },
);
const token = login.data?.login?.token as string;
const ids = (
  await gql('{ posts(first: 100) { edges { node { id } } } }', {}, token)
).data.posts.edges.map((e: { node: { id: string } }) => e.node.id) as string[];
const deep = await gql('{ posts(first: 1, offset: 1000) { edges { cursor } } }', {}, token);
const deepCursor = deep.data.posts.edges[0].cursor as string;

const bodies: string[] = [];
for (let i = 0; i < 36; i++) {
  const s = values.scenario;
  const [query, variables] =
    s === 'typename'
      ? [TYPENAME, {}]
      : s === 'node'
        ? [NODE, { id: ids[i % ids.length] }]
        : s === 'deep'
          ? [DEEP_PAGE, { after: deepCursor, field: 'CREATED_AT' }]
          : [
              FEED,
              { status: STATUSES[i % 6], platform: PLATFORMS[Math.floor(i / 6) % 6], first: 20 },
            ];
  bodies.push(JSON.stringify({ query, variables }));
}
const check = await fetch(`${base}/graphql`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
  body: bodies[0],
});
const checked = (await check.json()) as { errors?: unknown[] };
if (checked.errors) throw new Error(`scenario query failed: ${JSON.stringify(checked.errors)}`);

/** The body of request `n`: one of the 36 above, or a lookup of a random post. */
const nextBody = bodySource(
  values.scenario as string,
  bodies,
  values['random-ids'] ? Number(values['random-ids']) : 0,
);

const autocannon = createRequire(import.meta.url)('autocannon');
let n = 0;
const load = (seconds: number) =>
  new Promise<{ requests: { total: number }; non2xx: number; errors: number }>(
    (resolve, reject) => {
      autocannon(
        {
          url: `${base}/graphql`,
          method: 'POST',
          connections: Number(values.connections),
          duration: seconds,
          headers: {
            'content-type': 'application/json',
            ...(values.scenario === 'typename' ? {} : { authorization: `Bearer ${token}` }),
          },
          requests: [{ setupRequest: (req: object) => ({ ...req, body: nextBody(n++) }) }],
        },
        (err: Error | null, res: never) => (err ? reject(err) : resolve(res)),
      );
    },
  );

// The inspector session: V8's sampling profiler, started after the warm-up.
const targets = (await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json()) as {
  webSocketDebuggerUrl: string;
}[];
const ws = new WebSocket(targets[0]?.webSocketDebuggerUrl as string);
await new Promise((resolve, reject) => {
  ws.onopen = resolve;
  ws.onerror = reject;
});
let callId = 0;
const pending = new Map<number, (result: unknown) => void>();
ws.onmessage = (event) => {
  const msg = JSON.parse(String(event.data)) as { id?: number; result?: unknown };
  if (msg.id !== undefined) pending.get(msg.id)?.(msg.result);
};
const call = (method: string, params: object = {}) =>
  new Promise<any>((resolve) => {
    const id = ++callId;
    pending.set(id, resolve);
    ws.send(JSON.stringify({ id, method, params }));
  });
await call('Profiler.enable');
await call('Profiler.setSamplingInterval', { interval: 200 });
await load(Number(values.warmup));
await call('Profiler.start');
const cpuBefore = processCpuSeconds(server.pid as number);
const result = await load(Number(values.seconds));
const cpuAfter = processCpuSeconds(server.pid as number);
const { profile: captured } = await call('Profiler.stop');
ws.close();
server.kill('SIGTERM');
await new Promise((r) => server.once('exit', r));
const file = path.join(dir, `${values.scenario}.cpuprofile`);
await writeFile(file, JSON.stringify(captured));

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
const profile = captured as {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
};
const self = new Map<number, number>();
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i] as number;
  self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
const byId = new Map(profile.nodes.map((nd) => [nd.id, nd]));
const group = (url: string, fn: string) => {
  if (!url) return fn === '(garbage collector)' ? '(gc)' : fn.startsWith('(') ? fn : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1] as string;
  if (url.startsWith('node:')) return url.replace(/^node:internal\/(\w+).*/, 'node:$1');
  const src = /\/(src|bench)\/(.*)$/.exec(url);
  return src ? `${src[1]}/${src[2]}` : url;
};
const groups = new Map<string, number>();
const fns = new Map<string, number>();
let total = 0;
for (const [id, us] of self) {
  const nd = byId.get(id);
  if (!nd) continue;
  const g = group(nd.callFrame.url, nd.callFrame.functionName);
  if (g === '(idle)' || g === '(program)') continue;
  total += us;
  groups.set(g, (groups.get(g) ?? 0) + us);
  const f = `${nd.callFrame.functionName || '(anonymous)'} ${g}:${nd.callFrame.lineNumber + 1}`;
  fns.set(f, (fns.get(f) ?? 0) + us);
}
const requests = result.requests.total;
const line = (label: string, us: number) =>
  `${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000 / Math.max(1, requests)).toFixed(3)} ms/req  ${label}`;
console.log(
  `\n${values.scenario}: ${requests} requests in ${values.seconds} s (${result.non2xx} non-2xx, ${result.errors} errors); busy CPU ${(total / 1000).toFixed(0)} ms = ${(total / 1000 / Math.max(1, requests)).toFixed(3)} ms/req (excl. idle)\n`,
);
if (cpuBefore !== null && cpuAfter !== null) {
  console.log(
    `process CPU (/proc, user+system, profiler on): ${(((cpuAfter - cpuBefore) * 1000) / Math.max(1, requests)).toFixed(3)} ms/req\n`,
  );
}
console.log('By package / file:');
for (const [g, us] of [...groups].sort((a, b) => b[1] - a[1]).slice(0, 30))
  console.log(line(g, us));
console.log('\nTop functions (self time):');
for (const [f, us] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top)))
  console.log(line(f, us));
console.log(`\nprofile: ${file}`);
