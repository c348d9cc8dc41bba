/**
 * Request generators for autocannon, one per scenario. They run inside the load worker:
 * every request draws fresh variables (random status, id, client...) in `setupRequest`, and
 * every response is checked for GraphQL `errors` in `onResponse`.
 */
import { encodeGlobalId } from '../../src/global-id.ts';
import {
  CREATE_POST,
  DASHBOARD,
  DEEP_PAGE,
  FEED,
  NODE,
  PLATFORMS,
  PROJECT_POSTS,
  pick,
  STATUSES,
  TYPENAME,
  UPDATE_POST,
} from './queries.ts';
import type { Failure, MixedClient, MixedFixture, Workload } from './types.ts';

export interface Counters {
  /** False during the warm-up: nothing is counted. */
  measuring: boolean;
  graphqlErrors: number;
  errorSamples: string[];
  writes: number;
  checks: number;
  staleReads: number;
  /** Requests sent on a connection that closed before their response (load-worker.ts). */
  lost: number;
  /** Failed requests with their time (capped at MAX_FAILURES). */
  failures: Failure[];
}

export const MAX_FAILURES = 5000;

/** Records a failed request (while measuring). */
export function recordFailure(counters: Counters, what: string): void {
  if (counters.measuring && counters.failures.length < MAX_FAILURES) {
    counters.failures.push({ at: Date.now(), what });
  }
}

interface Req {
  method: 'POST';
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** autocannon's request entry (its types are not published). */
export interface CannonRequest {
  method: 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
  setupRequest?: (req: Req, context: Record<string, unknown>) => Req;
  onResponse?: (status: number, body: unknown, context: Record<string, unknown>) => void;
}

const text = (body: unknown) => (Buffer.isBuffer(body) ? body.toString('utf8') : String(body));

function request(token: string | null, query: string, variables: Record<string, unknown>): Req {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  return { method: 'POST', path: '/graphql', headers, body: JSON.stringify({ query, variables }) };
}

/** Parses a body when it carries top-level `errors`; records a sample message. */
function checkErrors(counters: Counters, status: number, raw: string): boolean {
  if (status === 200 && !raw.includes('"errors"')) return false;
  if (!counters.measuring) return true;
  let message = `HTTP ${status}`;
  try {
    const parsed = JSON.parse(raw) as { errors?: { message?: string; extensions?: unknown }[] };
    if (status === 200 && !parsed.errors?.length) return false;
    const first = parsed.errors?.[0];
    if (first) message = `${first.message} ${JSON.stringify(first.extensions ?? {})}`;
  } catch {
    // keep the HTTP status as the message
  }
  if (status === 200) {
    counters.graphqlErrors++;
    recordFailure(counters, message.slice(0, 120));
  }
  if (counters.errorSamples.length < 5 && !counters.errorSamples.includes(message)) {
    counters.errorSamples.push(message.slice(0, 300));
  }
  return true;
}

/**
 * The request autocannon sends: `mine` over the one it built, keeping its headers (`host`
 * among them: without it the server cannot build the request URL).
 */
const over = (req: Req, mine: Req): Req => ({
  ...req,
  ...mine,
  headers: { ...req.headers, ...mine.headers },
});

/** A one-entry request list whose variables come from `next()`. */
function single(counters: Counters, next: () => Req): CannonRequest[] {
  const first = next();
  return [
    {
      ...first,
      setupRequest: (req) => over(req, next()),
      onResponse: (status, body) => {
        checkErrors(counters, status, text(body));
      },
    },
  ];
}

export function buildRequests(workload: Workload, counters: Counters): CannonRequest[] {
  switch (workload.kind) {
    case 'typename':
      return single(counters, () => request(null, TYPENAME, {}));
    case 'feed':
      return single(counters, () =>
        request(workload.token, FEED, {
          status: pick(STATUSES),
          platform: pick(PLATFORMS),
          first: 20,
        }),
      );
    case 'deep-page':
      return single(counters, () =>
        request(workload.token, DEEP_PAGE, { after: workload.cursor, field: workload.field }),
      );
    case 'node': {
      const span = workload.maxId - workload.minId + 1;
      return single(counters, () =>
        request(workload.token, NODE, {
          id: encodeGlobalId('Post', workload.minId + Math.floor(Math.random() * span)),
        }),
      );
    }
    case 'dashboard':
      return single(counters, () =>
        request(workload.token, DASHBOARD, { clientId: pick(workload.clientIds) }),
      );
    case 'mixed':
      return mixedRequests(workload.mixed, counters);
  }
}

// ---- mixed ---------------------------------------------------------------------------

/**
 * A pair of requests per loop (autocannon resets the context after the last entry):
 * 1. 80% a read, 20% a write (`updatePost` of a hot post, or `createPost`) by a staff user;
 * 2. after a write, a read of the written data as the post's client user, which must see the
 *    write (else it counts as a stale read); after a read, another read.
 * Overall: 90% reads, 10% writes. A hot post is written by one connection at a time, so a
 * check never races another writer.
 */
/** The feeds people open most: the mixed workload's reads repeat, as an app's do. */
const HOT_STATUSES = ['SCHEDULED', 'IN_REVIEW', 'PUBLISHED'];
const HOT_PLATFORMS = ['INSTAGRAM', 'LINKEDIN'];

function mixedRequests(f: MixedFixture, counters: Counters): CannonRequest[] {
  const busy = new Set<string>();
  let seq = 0;
  const clientOf = new Map<string, MixedClient>();
  for (const c of f.clients) for (const p of c.posts) clientOf.set(p, c);

  const read = (): Req => {
    const staff = Math.random() < 0.3;
    const client = pick(f.clients);
    const token = staff ? pick(f.staff).token : client.user.token;
    const r = Math.random();
    if (r < 0.35) {
      return request(token, FEED, {
        status: pick(HOT_STATUSES),
        platform: pick(HOT_PLATFORMS),
        first: 20,
      });
    }
    if (r < 0.7) return request(token, NODE, { id: pick(client.posts) });
    if (staff && r < 0.8 && f.cursors.length) {
      return request(token, DEEP_PAGE, { after: pick(f.cursors), field: 'CREATED_AT' });
    }
    return request(token, DASHBOARD, { clientId: client.clientId });
  };

  const write = (ctx: Record<string, unknown>): Req => {
    const user = pick(f.staff);
    const title = `${f.runTag} ${process.pid}-${++seq}`;
    const client = pick(f.clients);
    const free = client.posts.filter((p) => !busy.has(p));
    if (Math.random() < 0.6 && free.length) {
      const id = pick(free);
      busy.add(id);
      ctx.write = { kind: 'update', id, title };
      return request(user.token, UPDATE_POST, { id, title });
    }
    const projectId = pick(client.projects);
    ctx.write = { kind: 'create', projectId, title, client: client.clientId };
    return request(user.token, CREATE_POST, { projectId, title });
  };

  interface Pending {
    kind: 'update' | 'create';
    id?: string;
    projectId?: string;
    title: string;
    client?: string;
    createdId?: string;
  }

  return [
    {
      ...read(),
      setupRequest: (req, ctx) => {
        if (Math.random() < 0.2) return over(req, write(ctx));
        ctx.write = undefined;
        return over(req, read());
      },
      onResponse: (status, body, ctx) => {
        const raw = text(body);
        const failed = checkErrors(counters, status, raw);
        const w = ctx.write as Pending | undefined;
        if (!w) return;
        if (counters.measuring) counters.writes++;
        if (failed) {
          if (w.id) busy.delete(w.id);
          ctx.write = undefined;
        } else if (w.kind === 'create') {
          const data = JSON.parse(raw) as { data?: { createPost?: { post?: { id?: string } } } };
          w.createdId = data.data?.createPost?.post?.id;
        }
      },
    },
    {
      ...read(),
      setupRequest: (req, ctx) => {
        const w = ctx.write as Pending | undefined;
        if (!w) return over(req, read());
        if (w.kind === 'update' && w.id) {
          const owner = clientOf.get(w.id);
          return over(req, request(owner?.user.token ?? pick(f.staff).token, NODE, { id: w.id }));
        }
        const owner = f.clients.find((c) => c.clientId === w.client);
        return over(
          req,
          request(owner?.user.token ?? pick(f.staff).token, PROJECT_POSTS, {
            projectId: w.projectId,
          }),
        );
      },
      onResponse: (status, body, ctx) => {
        const raw = text(body);
        const failed = checkErrors(counters, status, raw);
        const w = ctx.write as Pending | undefined;
        if (!w) return;
        if (w.id) busy.delete(w.id);
        if (failed || !counters.measuring) return;
        counters.checks++;
        if (w.kind === 'update') {
          const data = JSON.parse(raw) as { data?: { node?: { title?: string } } };
          if (data.data?.node?.title !== w.title) counters.staleReads++;
        } else {
          const data = JSON.parse(raw) as {
            data?: { posts?: { edges?: { node: { id: string } }[] } };
          };
          const ids = data.data?.posts?.edges?.map((e) => e.node.id) ?? [];
          if (!w.createdId || !ids.includes(w.createdId)) counters.staleReads++;
        }
      },
    },
  ];
}
