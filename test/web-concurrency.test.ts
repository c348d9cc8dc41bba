/**
 * WEB_CONCURRENCY=2: two API processes behind one port, a dead one replaced, SIGTERM to the
 * primary stops them all.
 */
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { ADMIN, PASSWORD } from './fixtures.ts';
import { cloneTemplate } from './harness.ts';
import { startServerProcess } from './server-process.ts';
import { eventually } from './wait.ts';

/** GET /ready on a new connection each time (no keep-alive, so any child may answer). */
function readyPid(origin: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http
      .get(`${origin}/ready`, { agent: false, timeout: 5000 }, (res) => {
        let body = '';
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve((JSON.parse(body) as { pid: number }).pid));
      })
      .on('error', reject);
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('WEB_CONCURRENCY', () => {
  it('serves from two processes, replaces a dead one, and stops them all on SIGTERM', async () => {
    const url = await cloneTemplate('cluster');
    const server = await startServerProcess({ DATABASE_URL: url, WEB_CONCURRENCY: '2' });
    const seen = new Set<number>();
    await eventually(
      async () => {
        try {
          seen.add(await readyPid(server.origin));
        } catch {}
        return seen.size >= 2;
      },
      { what: 'answers from two processes', timeoutMs: 60_000 },
    );
    const children = [...seen];
    expect(children).not.toContain(server.child.pid);
    // One secret for all: a token from one child is accepted by the other.
    const login = await server.gql(
      'mutation($e: String!, $p: String!) { login(input: { email: $e, password: $p }) { token } }',
      { e: ADMIN, p: PASSWORD },
    );
    const token = login.body.data.login.token as string;
    for (let i = 0; i < 6; i++) {
      const res = await server.gql('{ viewer { email } }', {}, token);
      expect(res.body).toEqual({ data: { viewer: { email: ADMIN } } });
    }

    // A child killed outright is replaced.
    process.kill(children[0] as number, 'SIGKILL');
    const after = new Set<number>();
    await eventually(
      async () => {
        try {
          after.add(await readyPid(server.origin));
        } catch {}
        return [...after].some((pid) => !seen.has(pid)) && after.has(children[1] as number);
      },
      { what: 'a replacement process answering', timeoutMs: 90_000 },
    );

    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    for (const pid of [...seen, ...after]) expect(alive(pid)).toBe(false);
  }, 240_000);
});
