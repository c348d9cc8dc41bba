/**
 * Cache tags: what a cached response depends on, beyond the entities it contains.
 *
 * `@envelop/response-cache` records every `Type:id` in a response and invalidates those a
 * mutation returns. That misses lists: a created post must clear the cached lists it could
 * appear in, though none of them contains it yet. So every list (and count and dashboard)
 * a response reads is tagged with its *partition*: the values of a few dimensions its filter
 * fixes (client, status, platform, project), `*` where it fixes none. A write names the
 * partition of the row before and after it; the tags to clear are every combination of each
 * dimension's value or `*` — a handful of exact keys, no scanning.
 *
 * Filters that are not dimensions (search, author, dates) only narrow a list, so the list's
 * partition is a superset of it: invalidation can clear too much, never too little.
 */

export type Dim = string | number | null | undefined;

/** Dimension order per list type; tags list them in this order. */
const DIMS: Record<string, readonly string[]> = {
  // `o`: the list's order field, or `*` for lists with filters that are not dimensions
  // (search, date ranges, author), which any write in their partition may change.
  Post: ['c', 'pr', 's', 'p', 'o'],
  Project: ['c', 's'],
  Deliverable: ['c', 'pr', 's'],
  Client: [],
  Dashboard: ['c'],
};

const norm = (v: Dim) => (v === null || v === undefined ? '*' : String(v));

/**
 * Tags for a list of `type` whose filter fixes some dimensions. A dimension given several
 * values (status: [A, B]) yields one tag per value.
 */
export function listTags(type: string, fixed: Record<string, Dim | readonly Dim[]>): string[] {
  const dims = DIMS[type];
  if (!dims) throw new Error(`no cache dimensions for ${type}`);
  let tags = [`L:${type}`];
  for (const d of dims) {
    const raw = fixed[d];
    const values = Array.isArray(raw) ? (raw.length ? raw.map(norm) : ['*']) : [norm(raw as Dim)];
    tags = tags.flatMap((t) => values.map((v) => `${t}|${d}=${v}`));
  }
  return tags;
}

/** Tags to clear when a row of `type` in this state is created, changed or deleted. */
export function tagsForState(type: string, state: Record<string, Dim | readonly Dim[]>): string[] {
  const dims = DIMS[type];
  if (!dims) return [];
  let tags = [`L:${type}`];
  for (const d of dims) {
    const raw = state[d];
    const values = new Set((Array.isArray(raw) ? raw : [raw as Dim]).map(norm));
    values.add('*');
    tags = tags.flatMap((t) => [...values].map((v) => `${t}|${d}=${v}`));
  }
  return tags;
}

/** The entity tag the response cache itself uses for a `Type:id`. */
export const entityTag = (typename: string, id?: string | number) =>
  id === undefined ? typename : `${typename}:${id}`;
