/**
 * A/B of two server settings on the same code: starts two production servers that differ only
 * in the environment given with --a and --b, and alternates short load runs (A B B A A B ...)
 * of one scenario, reporting per side the median req/s and the server's CPU time per request
 * (from /proc, user + system), and the B/A ratios. CPU per request is the figure a busy shared
 * machine moves least.
 *
 *   node --import tsx bench/ab-env.ts --scenario feed --a GRAPHQL_JIT=false --b GRAPHQL_JIT=true
 *   node --import tsx bench/ab-env.ts --scenario typename --entry-a bench/bare-yoga.mjs
 *   node --import tsx bench/ab-env.ts --entry dist/server.js --flags-b "--max-semi-space-size=16"
 *   node --import tsx bench/ab-env.ts --scenario node --random-ids 1000000 --a RESPONSE_CACHE=off --b RESPONSE_CACHE=memory
 *     [--rounds 6] [--seconds 5] [--connections 16] [--db postline_bench_50000] [--node <bin>] [--together]
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { processCpuSeconds, processRssMb } from './lib/cpu.ts';
import { bodySource, DEEP_PAGE, FEED, NODE, PLATFORMS, STATUSES, TYPENAME } from './lib/queries.ts';
import { freePort, scriptServerEnv } from './lib/server.ts';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'feed' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '6' },
    connections: { type: 'string', default: '16' },
    db: { type: 'string', default: 'postline_bench_50000' },
    node: { type: 'string', default: process.execPath },
    a: { type: 'string', multiple: true, default: [] },
    b: { type: 'string', multiple: true, default: [] },
    env: { type: 'string', multiple: true, default: [] },
    entry: { type: 'string', default: 'src/server.ts' },
    'entry-a': { type: 'string' },
    'entry-b': { type: 'string' },
    // Node flags before the entry, per side (V8 flags NODE_OPTIONS does not accept).
    'flags-a': { type: 'string', default: '' },
    'flags-b': { type: 'string', default: '' },
    // node: each request looks up a random post id in 1..N (nearly every one a cache miss)
    // instead of cycling through 36 posts of the first page.
    'random-ids': { type: 'string' },
    // Load both servers at the same time in every round (each with --connections), instead of
    // one after the other: both see the same machine, so per-round ratios cancel the noise of
    // a shared machine (the load generator's and PostgreSQL's CPU, other tenants).
    together: { type: 'boolean', default: false },
  },
});

const root = path.resolve(import.meta.dirname, '..');
const envOf = (list: string[]) =>
  Object.fromEntries(list.map((kv) => kv.split(/=(.*)/s).slice(0, 2)));

async function start(extra: Record<string, string>, entry: string, flags: string) {
  const port = await freePort();
  const nodeFlags = flags.split(/\s+/).filter(Boolean);
  const args = [...nodeFlags, ...(entry.endsWith('.ts') ? ['--import', 'tsx', entry] : [entry])];
  const child = spawn(values.node as string, args, {
    cwd: root,
    env: {
      ...scriptServerEnv({
        port,
        db: values.db as string,
        jwtSecret: 'ab-env-secret-ab-env-secret-ab-env-0123',
      }),
      DB_POOL_SIZE: '10',
      DB_POOL_MAX_OVERFLOW: '10',
      ...envOf(values.env ?? []),
      ...extra,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/health`)).ok) break;
    } catch {}
    if (i > 900) throw new Error('server did not start');
    await new Promise((r) => setTimeout(r, 200));
  }
  return { child, base };
}

const servers = {
  A: await start(
    envOf(values.a ?? []),
    values['entry-a'] ?? (values.entry as string),
    values['flags-a'] as string,
  ),
  B: await start(
    envOf(values.b ?? []),
    values['entry-b'] ?? (values.entry as string),
    values['flags-b'] as string,
  ),
};

async function gql(base: string, query: string, variables: object, token?: string) {
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

const tokens: Record<string, string> = {};
for (const [name, s] of Object.entries(servers)) {
  if (values.scenario === 'typename') break;
  tokens[name] = (
    await gql(
      s.base,
      'mutation($e: String!, $p: String!) { login(input: { email: $e, password: $p }) { token } }',
      { e: 'admin@postline.dev', p: 'postline-demo' },
    )
  ).data.login.token;
}
const ids =
  values.scenario === 'typename'
    ? []
    : ((
        await gql(servers.A.base, '{ posts(first: 100) { edges { node { id } } } }', {}, tokens.A)
      ).data.posts.edges.map((e: { node: { id: string } }) => e.node.id) as string[]);
const deepCursor =
  values.scenario !== 'deep'
    ? ''
    : ((
        await gql(
          servers.A.base,
          '{ posts(first: 1, offset: 1000) { edges { cursor } } }',
          {},
          tokens.A,
        )
      ).data.posts.edges[0].cursor as string);

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

/** The body of request `n`: one of the 36 above, or a lookup of a random post. */
const nextBody = bodySource(
  values.scenario as string,
  bodies,
  values['random-ids'] ? Number(values['random-ids']) : 0,
);

const autocannon = createRequire(import.meta.url)('autocannon');
async function run(name: 'A' | 'B', seconds: number) {
  const s = servers[name];
  let n = 0;
  const pid = s.child.pid as number;
  const before = processCpuSeconds(pid) ?? 0;
  // Peak resident memory during the run, sampled every 100 ms.
  let rssMb = processRssMb(pid) ?? 0;
  const sampler = setInterval(() => {
    rssMb = Math.max(rssMb, processRssMb(pid) ?? 0);
  }, 100);
  const result = await new Promise<{ requests: { total: number }; non2xx: number; errors: number }>(
    (resolve, reject) =>
      autocannon(
        {
          url: `${s.base}/graphql`,
          method: 'POST',
          connections: Number(values.connections),
          duration: seconds,
          headers: {
            'content-type': 'application/json',
            ...(values.scenario === 'typename' ? {} : { authorization: `Bearer ${tokens[name]}` }),
          },
          requests: [{ setupRequest: (req: object) => ({ ...req, body: nextBody(n++) }) }],
        },
        (err: Error | null, res: never) => (err ? reject(err) : resolve(res)),
      ),
  );
  clearInterval(sampler);
  const cpu = (processCpuSeconds(pid) ?? 0) - before;
  const requests = result.requests.total;
  return {
    rps: requests / seconds,
    cpuMs: (cpu * 1000) / Math.max(1, requests),
    rssMb: Math.max(rssMb, processRssMb(pid) ?? 0),
    bad: result.non2xx + result.errors,
  };
}

// Warm both (jit compiles, statements prepare).
await run('A', 2);
await run('B', 2);
const res: Record<'A' | 'B', { rps: number; cpuMs: number; rssMb: number; bad: number }[]> = {
  A: [],
  B: [],
};
const rounds = Number(values.rounds);
const report = (
  r: number,
  side: 'A' | 'B',
  x: { rps: number; cpuMs: number; rssMb: number; bad: number },
) =>
  process.stdout.write(
    `round ${r + 1} ${side}: ${x.rps.toFixed(0)} req/s, ${x.cpuMs.toFixed(3)} ms CPU/req, peak RSS ${x.rssMb.toFixed(0)} MB${x.bad ? `, ${x.bad} bad` : ''}\n`,
  );
for (let r = 0; r < rounds; r++) {
  if (values.together) {
    // The side whose load starts first alternates.
    const seconds = Number(values.seconds);
    const [a, b] =
      r % 2 === 0
        ? await Promise.all([run('A', seconds), run('B', seconds)])
        : await Promise.all([run('B', seconds), run('A', seconds)]).then(
            ([y, x]) => [x, y] as const,
          );
    res.A.push(a);
    res.B.push(b);
    report(r, 'A', a);
    report(r, 'B', b);
    continue;
  }
  const order: ('A' | 'B')[] = r % 2 === 0 ? ['A', 'B'] : ['B', 'A'];
  for (const side of order) {
    const x = await run(side, Number(values.seconds));
    res[side].push(x);
    report(r, side, x);
  }
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const summary = (side: 'A' | 'B') => ({
  rps: median(res[side].map((x) => x.rps)),
  cpu: median(res[side].map((x) => x.cpuMs)),
  // The highest of the runs: memory only grows over a server's life.
  rss: Math.max(...res[side].map((x) => x.rssMb)),
});
const mA = summary('A');
const mB = summary('B');
/** A side's settings: its environment and Node flags. */
const describe = (side: 'a' | 'b') =>
  [...(values[side] ?? []), values[`flags-${side}`] ?? ''].join(' ').trim() || 'defaults';
process.stdout.write(
  `\n${values.scenario}, ${rounds} rounds of ${values.seconds} s, ${values.connections} connections\n` +
    `A (${describe('a')}): ${mA.rps.toFixed(0)} req/s, ${mA.cpu.toFixed(3)} ms CPU/req, peak RSS ${mA.rss.toFixed(0)} MB\n` +
    `B (${describe('b')}): ${mB.rps.toFixed(0)} req/s, ${mB.cpu.toFixed(3)} ms CPU/req, peak RSS ${mB.rss.toFixed(0)} MB\n` +
    `B/A: req/s ${(mB.rps / mA.rps).toFixed(2)}x, CPU/req ${(mB.cpu / mA.cpu).toFixed(2)}x, peak RSS ${(mB.rss / mA.rss).toFixed(2)}x\n`,
);
// Round by round (each B against the A run beside it or just before/after it).
const perRound = res.A.map((a, i) => (res.B[i]?.cpuMs ?? 0) / a.cpuMs);
process.stdout.write(
  `CPU/req B/A by round: ${perRound.map((x) => x.toFixed(2)).join(' ')}; median ${median(perRound).toFixed(2)}x, B lower in ${perRound.filter((x) => x < 1).length} of ${perRound.length}\n`,
);
servers.A.child.kill('SIGTERM');
servers.B.child.kill('SIGTERM');
