/**
 * What the scenarios need from the benchmark database and the running server: tokens of the
 * demo users, deep-page cursors built exactly as the API builds them, hot posts and projects
 * for the mixed workload. Also undoes what the mixed workload wrote, so the database keeps
 * its size and can be reused by the next run.
 */
import type pg from 'pg';
import { DEMO_PASSWORD } from '../../src/db/seed.ts';
import { encodeGlobalId } from '../../src/global-id.ts';
import { encodeCursor, setCursorSecret } from '../../src/schema/connection.ts';
import { onCleanup } from './cleanup.ts';
import { LOGIN } from './queries.ts';
import { median } from './stats.ts';
import type { MixedClient, MixedFixture, MixedUser } from './types.ts';

export const POST_ORDERS = {
  CREATED_AT: 'created_at',
  UPDATED_AT: 'updated_at',
  SCHEDULED_AT: 'scheduled_at',
  TITLE: 'title',
} as const;
export type PostOrderField = keyof typeof POST_ORDERS;

/** Depths named by the issue, for 1,000,000 posts. */
export const NOMINAL_DEPTHS = [1, 10_000, 500_000, 900_000];

/** The depths scaled to the data size (same relative position), within the table. */
export function depthsFor(posts: number): { nominal: number; depth: number }[] {
  const scale = posts / 1_000_000;
  return NOMINAL_DEPTHS.map((nominal) => ({
    nominal,
    depth: Math.max(1, Math.min(posts - 21, nominal === 1 ? 1 : Math.round(nominal * scale))),
  }));
}

const sessions = new Map<string, MixedUser>();

/**
 * Signs in as a demo user, once per run: every server of a run shares its JWT secret, so a
 * token stays valid across them. `perServer` signs in once per server instead (`--compare`
 * runs two versions, whose tokens need not be the same).
 */
export async function login(baseUrl: string, email: string, perServer = false): Promise<MixedUser> {
  const key = perServer ? `${baseUrl} ${email}` : email;
  const known = sessions.get(key);
  if (known) return known;
  const res = await fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: LOGIN, variables: { email, password: DEMO_PASSWORD } }),
  });
  const body = (await res.json()) as {
    data?: { login?: { token: string; viewer: { role: string } } };
    errors?: { message: string }[];
  };
  const payload = body.data?.login;
  if (!payload)
    throw new Error(`login as ${email} failed: ${body.errors?.[0]?.message ?? res.status}`);
  const user = { email, role: payload.viewer.role, token: payload.token };
  sessions.set(key, user);
  return user;
}

export interface DeepPageCursor {
  field: PostOrderField;
  nominal: number;
  depth: number;
  cursor: string;
  /** The sort key and id of the row the cursor points after (the raw SQL baseline's keyset). */
  key: { v: string | null; id: number };
  /** p50 of the same page by OFFSET, run directly in SQL, in ms. */
  offsetP50Ms: number;
  offsetRuns: number;
}

/**
 * For each order and depth: the row at that depth (by OFFSET, directly in SQL) turned into
 * the cursor the API would hand out after it, and the page after it timed by OFFSET.
 */
export async function deepPageCursors(
  pool: pg.Pool,
  opts: {
    posts: number;
    jwtSecret: string;
    fields: PostOrderField[];
    offsetRuns: number;
    endsOnly?: boolean;
  },
): Promise<DeepPageCursor[]> {
  setCursorSecret(opts.jwtSecret);
  const out: DeepPageCursor[] = [];
  const all = depthsFor(opts.posts);
  const depths = opts.endsOnly ? [all[0], all[all.length - 1]].filter((d) => d !== undefined) : all;
  for (const field of opts.fields) {
    const col = POST_ORDERS[field];
    for (const { nominal, depth } of depths) {
      // The page by OFFSET, run directly in SQL: the contrast to the cursor. It starts at the
      // row at `depth`, whose key and id make the cursor the API would hand out after it.
      const times: number[] = [];
      let cursor = '';
      let key = { v: null as string | null, id: 0 };
      for (let i = 0; i < Math.max(1, opts.offsetRuns); i++) {
        const t = performance.now();
        const { rows } = await pool.query<{ id: number; k: Date | string | null }>(
          `SELECT p.id, p.k, p.title, p.platform, p.status, p.scheduled_at, pr.name, c.name
             FROM (SELECT *, ${col} AS k FROM posts ORDER BY ${col} DESC, id DESC OFFSET $1 LIMIT 21) p
             JOIN projects pr ON pr.id = p.project_id JOIN clients c ON c.id = p.client_id
            ORDER BY p.k DESC, p.id DESC`,
          [depth - 1],
        );
        times.push(performance.now() - t);
        const row = rows[0];
        if (!row) throw new Error(`no post at depth ${depth} by ${field}`);
        const v = row.k instanceof Date ? row.k.toISOString() : row.k;
        cursor = encodeCursor({ b: `posts||${field}|DESC`, v, i: row.id });
        key = { v, id: row.id };
      }
      out.push({
        field,
        nominal,
        depth,
        cursor,
        key,
        offsetP50Ms: median(times),
        offsetRuns: times.length,
      });
    }
  }
  return out;
}

/**
 * The `created_at` and id of the row at the deepest deep-page depth, newest first: where the
 * raw SQL deep-page baseline starts its keyset page.
 */
export async function deepestCreatedAt(
  pool: pg.Pool,
  posts: number,
): Promise<{ createdAt: string; id: number; depth: number }> {
  const deepest = depthsFor(posts)[NOMINAL_DEPTHS.length - 1];
  const depth = deepest?.depth ?? 1;
  const { rows } = await pool.query<{ id: number; created_at: Date }>(
    'SELECT id, created_at FROM posts ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1',
    [depth - 1],
  );
  const row = rows[0];
  if (!row) throw new Error(`no post at depth ${depth}`);
  return { createdAt: row.created_at.toISOString(), id: row.id, depth };
}

export interface Catalog {
  minPostId: number;
  maxPostId: number;
  clientIds: string[];
}

export async function catalog(pool: pg.Pool): Promise<Catalog> {
  const ids = await pool.query<{ min: number; max: number }>(
    'select min(id)::int as min, max(id)::int as max from posts',
  );
  const clients = await pool.query<{ id: number }>('select id from clients order by id');
  return {
    minPostId: ids.rows[0]?.min ?? 1,
    maxPostId: ids.rows[0]?.max ?? 1,
    clientIds: clients.rows.map((r) => encodeGlobalId('Client', r.id)),
  };
}

export interface MixedSetup {
  fixture: MixedFixture;
  /**
   * Deletes the posts the run created and restores the hot posts it renamed. Call it after
   * the server has stopped (it finishes requests in flight, which may still write).
   */
  restore(): Promise<void>;
}

/** Logs in staff of each role and `clientUsers` client users; picks their hot posts. */
export async function mixedFixture(
  pool: pg.Pool,
  baseUrl: string,
  opts: { clientUsers: number; hotPostsPerClient: number; cursors: string[] },
): Promise<MixedSetup> {
  const staffEmails = ['admin@postline.dev', 'manager@postline.dev', 'editor@postline.dev'];
  const staff = await Promise.all(staffEmails.map((e) => login(baseUrl, e)));
  const clientEmails = Array.from(
    { length: opts.clientUsers },
    (_, i) => `client${i + 1}@postline.dev`,
  );
  const users = await pool.query<{ email: string; client_id: number }>(
    'select email, client_id from users where email = any($1) order by id',
    [clientEmails],
  );
  const clients: MixedClient[] = [];
  const hotIds: number[] = [];
  for (const u of users.rows) {
    const posts = await pool.query<{ id: number }>(
      'select id from posts where client_id = $1 order by id limit $2',
      [u.client_id, opts.hotPostsPerClient],
    );
    const projects = await pool.query<{ id: number }>(
      `select id from projects where client_id = $1 and status <> 'ARCHIVED' order by id limit 5`,
      [u.client_id],
    );
    if (!posts.rows.length || !projects.rows.length) continue;
    hotIds.push(...posts.rows.map((r) => r.id));
    clients.push({
      clientId: encodeGlobalId('Client', u.client_id),
      user: await login(baseUrl, u.email),
      posts: posts.rows.map((r) => encodeGlobalId('Post', r.id)),
      projects: projects.rows.map((r) => encodeGlobalId('Project', r.id)),
    });
  }
  if (!clients.length) throw new Error('mixed: no client user with posts and open projects');

  const saved = await pool.query<{ id: number; title: string; updated_at: Date }>(
    'select id, title, updated_at from posts where id = any($1)',
    [hotIds],
  );
  const max = await pool.query<{ max: number }>('select max(id)::int as max from posts');
  const maxId = max.rows[0]?.max ?? 0;
  const restore = async () => {
    await pool.query('delete from posts where id > $1', [maxId]);
    await pool.query(
      `update posts p set title = s.title, updated_at = s.updated_at
         from unnest($1::int[], $2::text[], $3::timestamptz[]) as s(id, title, updated_at)
        where p.id = s.id`,
      [
        saved.rows.map((r) => r.id),
        saved.rows.map((r) => r.title),
        saved.rows.map((r) => r.updated_at),
      ],
    );
  };
  const runTag = `bench-${Date.now().toString(36)}`;
  // Registered so that an error or Ctrl-C also puts the data back.
  return {
    fixture: { staff, clients, cursors: opts.cursors, runTag },
    restore: onCleanup('mixed data restore', restore, { last: true }),
  };
}
