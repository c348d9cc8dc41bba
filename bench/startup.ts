/**
 * What the TypeScript loader costs: starts Postline through tsx (`node --import tsx
 * src/server.ts`) and compiled (`node dist/server.js`, run `npm run build` first), alternating,
 * and prints per side the median time to /ready, CPU time spent getting there, RSS when ready,
 * then CPU per request and RSS after a fixed number of feed requests.
 *
 *   node --import tsx bench/startup.ts [--rounds 4] [--requests 2000] [--node <bin>]
 *     [--db postline_bench_50000]
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { processCpuSeconds, processRssMb } from './lib/cpu.ts';
import { FEED, PLATFORMS, STATUSES } from './lib/queries.ts';
import { freePort, scriptServerEnv } from './lib/server.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '4' },
    requests: { type: 'string', default: '2000' },
    node: { type: 'string', default: process.execPath },
    db: { type: 'string', default: 'postline_bench_50000' },
  },
});
const root = path.resolve(import.meta.dirname, '..');
const sides = {
  tsx: ['--import', 'tsx', 'src/server.ts'],
  compiled: ['dist/server.js'],
} as const;
type Side = keyof typeof sides;

interface Figures {
  readyMs: number;
  readyCpuMs: number;
  readyRssMb: number;
  cpuPerRequestMs: number;
  loadedRssMb: number;
}

async function measure(side: Side): Promise<Figures> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const t0 = performance.now();
  const child = spawn(values.node as string, [...sides[side]], {
    cwd: root,
    env: scriptServerEnv({
      port,
      db: values.db as string,
      jwtSecret: 'startup-bench-secret-startup-bench-0123',
    }),
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const pid = child.pid as number;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${side} server exited (${child.exitCode})`);
      const ok = await fetch(`${base}/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const readyMs = performance.now() - t0;
    const readyCpuMs = (processCpuSeconds(pid) ?? 0) * 1000;
    const readyRssMb = processRssMb(pid) ?? 0;

    const gql = async (body: unknown, token?: string) => {
      const res = await fetch(`${base}/graphql`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(body),
      });
      return (await res.json()) as { data?: { login?: { token: string } }; errors?: unknown };
    };
    const token = (
      await gql({
        query:
          'mutation { login(input: { email: "admin@postline.dev", password: "postline-demo" }) { token } }',
      })
    ).data?.login?.token;
    if (!token) throw new Error('login failed');
    let left = Number(values.requests);
    let i = 0;
    const cpuBefore = processCpuSeconds(pid) ?? 0;
    const n = left;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (left-- > 0) {
          const k = i++;
          const res = await gql(
            {
              query: FEED,
              variables: {
                status: STATUSES[k % 6],
                platform: PLATFORMS[Math.floor(k / 6) % 6],
                first: 20,
              },
            },
            token,
          );
          if (res.errors) throw new Error(`feed failed: ${JSON.stringify(res.errors)}`);
        }
      }),
    );
    const cpuPerRequestMs = (((processCpuSeconds(pid) ?? 0) - cpuBefore) * 1000) / n;
    return {
      readyMs,
      readyCpuMs,
      readyRssMb,
      cpuPerRequestMs,
      loadedRssMb: processRssMb(pid) ?? 0,
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

const results: Record<Side, Figures[]> = { tsx: [], compiled: [] };
const rounds = Number(values.rounds);
for (let r = 0; r < rounds; r++) {
  const order: Side[] = r % 2 === 0 ? ['tsx', 'compiled'] : ['compiled', 'tsx'];
  for (const side of order) {
    const f = await measure(side);
    results[side].push(f);
    process.stdout.write(
      `round ${r + 1} ${side.padEnd(8)} ready ${f.readyMs.toFixed(0)} ms (${f.readyCpuMs.toFixed(0)} ms CPU, ` +
        `${f.readyRssMb.toFixed(0)} MB RSS); feed ${f.cpuPerRequestMs.toFixed(3)} ms CPU/req, ` +
        `${f.loadedRssMb.toFixed(0)} MB RSS after\n`,
    );
  }
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const row = (side: Side) => {
  const m = (k: keyof Figures) => median(results[side].map((f) => f[k]));
  return `| ${side} | ${m('readyMs').toFixed(0)} | ${m('readyCpuMs').toFixed(0)} | ${m('readyRssMb').toFixed(0)} | ${m('cpuPerRequestMs').toFixed(3)} | ${m('loadedRssMb').toFixed(0)} |`;
};
const version = await new Promise<string>((resolve) => {
  const p = spawn(values.node as string, ['--version']);
  let out = '';
  p.stdout.on('data', (d) => {
    out += String(d);
  });
  p.on('exit', () => resolve(out.trim()));
});
process.stdout.write(
  `\nNode ${version}, ${rounds} rounds, medians; ${values.requests} feed requests (8 at a time) after ready\n` +
    '| start | to /ready (ms) | CPU to ready (ms) | RSS ready (MB) | feed CPU/req (ms) | RSS after (MB) |\n' +
    '|---|---|---|---|---|---|\n' +
    `${row('tsx')}\n${row('compiled')}\n`,
);
