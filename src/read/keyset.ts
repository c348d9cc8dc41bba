/**
 * Keyset (cursor) pages for every list Postline serves.
 *
 * A page is an index range: a row comparison `(sort_key, id) > ($1, $2)` with a LIMIT, served
 * by an index whose trailing columns are the sort key and `id`, so it costs the same at row 1
 * and row 1,000,000 and does not depend on the cursor row still existing. Nullable sort keys
 * are split into a non-null and a null segment (nulls sort last ascending, first descending,
 * as PostgreSQL's default), each an index range, joined with UNION ALL so the second only runs
 * when the first runs out.
 *
 * `pageInfo` is exact in both directions: besides the page (fetched with one row more than
 * asked, which answers "is there more ahead"), the same statement probes the other side of the
 * cursor with a LIMIT 1 index probe per segment (`EXISTS`), so `hasPreviousPage` (forward) and
 * `hasNextPage` (backward) are right even after the rows before the cursor were deleted.
 * `offset` (<= 1000) is applied on the fetched rows, so skipped rows also count as "behind".
 *
 * engine.ts wraps the page in the statement that also loads the rows and their relations.
 */
import { hash, timingSafeEqual } from 'node:crypto';
import { Prisma } from '../db/prisma.ts';
import { badInput } from '../errors.ts';
import type { SortKey } from './model.ts';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;
export const MAX_OFFSET = 1000;

export type SortType = SortKey['type'];

export interface ListSpec {
  /** Stable list name bound into cursors (`posts`, `project.posts`, ...). */
  name: string;
  table: string;
  orders: Record<string, SortKey>;
}

export interface PageArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
  offset?: number | null;
}

export type Direction = 'ASC' | 'DESC';

export interface CursorPayload {
  /** list binding: list name, order field, direction, parent */
  b: string;
  v: string | number | null;
  i: number;
}

export interface PageRequest {
  spec: ListSpec;
  orderField: string;
  direction: Direction;
  args: PageArgs;
  /** Conditions on the table (alias `t`), ANDed. */
  where: Prisma.Sql[];
  /** For nested lists: the column holding the parent id. */
  parentColumn?: string;
}

export interface PlannedPage {
  limit: number;
  offset: number;
  /** Direction the SQL walks in: the requested one, reversed for `last`. */
  walk: Direction;
  backward: boolean;
  cursor: CursorPayload | null;
  binding: string;
}

/**
 * HMAC-SHA256 with the key's pads computed once: the same bytes `createHmac` produces, in two
 * one-shot hashes (a page signs up to 100 cursors; `createHmac` builds an object and re-derives
 * the pads for each).
 */
class CursorSigner {
  readonly #ipad: Buffer;
  readonly #opad: Buffer;
  constructor(key: string) {
    let k = Buffer.from(key, 'utf8');
    if (k.length > 64) k = hash('sha256', k, 'buffer');
    const padded = Buffer.concat([k, Buffer.alloc(64 - k.length)]);
    this.#ipad = Buffer.from(padded.map((b) => b ^ 0x36));
    this.#opad = Buffer.from(padded.map((b) => b ^ 0x5c));
  }
  sign(body: string): string {
    const inner = hash(
      'sha256',
      Buffer.concat([this.#ipad, Buffer.from(body, 'latin1')]),
      'buffer',
    );
    return hash('sha256', Buffer.concat([this.#opad, inner]), 'base64url').slice(0, 16);
  }
}

let signer = new CursorSigner('postline-cursor');
/** Cursors are signed so a tampered one is refused rather than silently re-interpreted. */
export function setCursorSecret(secret: string): void {
  signer = new CursorSigner(`cursor:${secret}`);
  recentCursors = new Map();
}

/**
 * Cursors made lately, by row (id, list binding, sort value). Signing costs two SHA-256 calls,
 * about 3.5 µs, and a page of 20 asks for 20 cursors; pages are read again (a feed after a
 * write, or with the response cache off), mostly with the same rows. Dropped as a whole when
 * full: at most RECENT_CURSORS entries, about 1.5 MB.
 */
const RECENT_CURSORS = 5000;
let recentCursors = new Map<string, string>();

/** The cursor's MAC: HMAC-SHA256 of its body, truncated to 96 bits (16 base64url characters). */
function sign(body: string): string {
  return signer.sign(body);
}

export function encodeCursor(payload: CursorPayload): string {
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  return `${body}.${sign(body)}`;
}

function decodeCursor(cursor: string, argName: string, binding: string): CursorPayload {
  const [body, mac, extra] = cursor.split('.');
  const expected = Buffer.from(body ? sign(body) : '');
  const given = Buffer.from(mac ?? '');
  // Lengths are compared on bytes: a multi-byte character must not reach timingSafeEqual.
  if (
    !body ||
    extra !== undefined ||
    given.length !== expected.length ||
    !timingSafeEqual(given, expected)
  ) {
    throw badInput(argName, `\`${argName}\` is not a valid cursor`);
  }
  const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as CursorPayload;
  if (payload.b !== binding) {
    throw badInput(
      argName,
      `\`${argName}\` is a cursor from another list, parent or sort order; request the first page again`,
    );
  }
  return payload;
}

export function planPage(req: PageRequest, parentKey: string | number | null): PlannedPage {
  const { args } = req;
  const binding = `${req.spec.name}|${parentKey ?? ''}|${req.orderField}|${req.direction}`;
  if (args.first != null && args.last != null) {
    throw badInput('first', 'Pass either `first` or `last`, not both');
  }
  if (args.after != null && args.before != null) {
    throw badInput('after', 'Pass either `after` or `before`, not both');
  }
  // `first` + `before` / `last` + `after` would silently ignore the cursor: refuse them.
  if (args.before != null && args.first != null) {
    throw badInput('before', '`before` pages backward: pass it with `last`, not `first`');
  }
  if (args.after != null && args.last != null) {
    throw badInput('after', '`after` pages forward: pass it with `first`, not `last`');
  }
  for (const name of ['first', 'last'] as const) {
    const n = args[name];
    if (n != null && (n < 0 || n > MAX_PAGE_SIZE)) {
      throw badInput(name, `\`${name}\` must be between 0 and ${MAX_PAGE_SIZE}`);
    }
  }
  const offset = args.offset ?? 0;
  if (offset < 0) throw badInput('offset', '`offset` must not be negative');
  if (offset > MAX_OFFSET) {
    throw badInput(
      'offset',
      `\`offset\` is limited to ${MAX_OFFSET}; page further with \`after\`/\`before\` cursors, which cost the same at any depth`,
    );
  }
  const backward = args.last != null || args.before != null;
  const limit = (backward ? args.last : args.first) ?? DEFAULT_PAGE_SIZE;
  const rawCursor = backward ? args.before : args.after;
  const cursorArg = backward ? 'before' : 'after';
  const cursor = rawCursor != null ? decodeCursor(rawCursor, cursorArg, binding) : null;
  const walk: Direction = backward ? reverse(req.direction) : req.direction;
  return { limit, offset, walk, backward, cursor, binding };
}

const reverse = (d: Direction): Direction => (d === 'ASC' ? 'DESC' : 'ASC');

const castOf: Record<SortType, string> = {
  timestamptz: 'timestamptz',
  date: 'date',
  text: 'text',
  int: 'int4',
};

function ident(name: string): Prisma.Sql {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad identifier ${name}`);
  return Prisma.raw(`"${name}"`);
}

export function sortOf(req: PageRequest): SortKey {
  const sort = req.spec.orders[req.orderField];
  if (!sort) throw new Error(`unknown order ${req.orderField}`);
  return sort;
}

/**
 * The index ranges (UNION ALL parts, numbered in walk order) holding the rows strictly after
 * `cursor` when walking in `walk` order, or at-or-after it when `inclusive`; each part is
 * `ORDER BY key, id` in walk order with its own LIMIT.
 */
function segments(
  req: PageRequest,
  walk: Direction,
  cursor: CursorPayload | null,
  inclusive: boolean,
  take: number,
  extra: Prisma.Sql | null,
): Prisma.Sql[] {
  const sort = sortOf(req);
  const col = Prisma.sql`t.${ident(sort.column)}`;
  const table = ident(req.spec.table);
  const dir = Prisma.raw(walk);
  const cmp = Prisma.raw((walk === 'ASC' ? '>' : '<') + (inclusive ? '=' : ''));
  const cast = Prisma.raw(castOf[sort.type]);
  const base = extra ? [...req.where, extra] : req.where;

  let segmentNo = 0;
  const segment = (conds: Prisma.Sql[]) => {
    const all = [...base, ...conds];
    const whereSql = all.length ? Prisma.sql`WHERE ${Prisma.join(all, ' AND ')}` : Prisma.empty;
    const n = segmentNo++;
    return Prisma.sql`(SELECT ${Prisma.raw(String(n))}::int4 AS seg, t.id, ${col} AS k FROM ${table} t ${whereSql} ORDER BY ${col} ${dir}, t.id ${dir} LIMIT ${limitSql(take)})`;
  };
  const c = cursor;
  if (!sort.nullable) {
    return [segment(c ? [Prisma.sql`(${col}, t.id) ${cmp} (${c.v}::${cast}, ${c.i}::int4)`] : [])];
  }
  // Nulls are the largest values: last when walking ASC, first when walking DESC.
  const nonNull = () =>
    segment([
      Prisma.sql`${col} IS NOT NULL`,
      ...(c && c.v !== null
        ? [Prisma.sql`(${col}, t.id) ${cmp} (${c.v}::${cast}, ${c.i}::int4)`]
        : []),
    ]);
  const nulls = () =>
    segment([
      Prisma.sql`${col} IS NULL`,
      ...(c && c.v === null ? [Prisma.sql`t.id ${cmp} ${c.i}::int4`] : []),
    ]);
  const parts: Prisma.Sql[] = [];
  if (walk === 'ASC') {
    if (!c || c.v !== null) parts.push(nonNull());
    parts.push(nulls());
  } else {
    if (!c || c.v === null) parts.push(nulls());
    parts.push(nonNull());
  }
  return parts;
}

/**
 * A LIMIT as a literal when it is a page size (at most MAX_PAGE_SIZE + 1 values), else a
 * parameter. PostgreSQL prices a generic plan's `LIMIT $n` as 10% of the rows, so with a
 * parameter it re-plans every execution of the named statement (a custom plan costs about a
 * millisecond of planning, several times the execution); with a literal it keeps one generic
 * plan per connection. `offset` pages (up to MAX_OFFSET more) keep the parameter, so the
 * number of statement texts stays bounded.
 */
function limitSql(take: number): Prisma.Sql | number {
  return Number.isSafeInteger(take) && take >= 0 && take <= MAX_PAGE_SIZE + 1
    ? Prisma.raw(String(take))
    : take;
}

/**
 * SQL of one page: rows `seg, id, k` in walk order (LIMIT limit + 1 + offset; the caller drops
 * the offset), each with `e`: whether a row exists on the other side of the cursor (the cursor
 * row included), so `hasPreviousPage` (forward) / `hasNextPage` (backward) are exact. That
 * probe is one LIMIT 1 index probe per segment. With a cursor the statement always returns a
 * row (id NULL when the page is empty) so the probe is not lost. `extra` is ANDed to every
 * segment (the parent condition for nested lists).
 */
export function pageSql(req: PageRequest, plan: PlannedPage, extra: Prisma.Sql | null): Prisma.Sql {
  const take = plan.limit + 1 + plan.offset;
  const parts = segments(req, plan.walk, plan.cursor, false, take, extra);
  const dir = Prisma.raw(plan.walk);
  // Each segment is an index range with its own LIMIT; the outer sort sees at most
  // (segments x take) rows, never the table.
  const page = Prisma.sql`SELECT seg.seg, seg.id, seg.k FROM (${Prisma.join(parts, ' UNION ALL ')}) seg
    ORDER BY seg.seg, seg.k ${dir}, seg.id ${dir} LIMIT ${limitSql(take)}`;
  if (!plan.cursor) return Prisma.sql`SELECT x.seg, x.id, x.k, false AS e FROM (${page}) x`;
  const behind = segments(req, reverse(plan.walk), plan.cursor, true, 1, extra);
  return Prisma.sql`SELECT x.seg, x.id, x.k, pr.e FROM (SELECT EXISTS (${Prisma.join(behind, ' UNION ALL ')}) AS e) pr
    LEFT JOIN LATERAL (${page}) x ON true`;
}

/** A page as the engine's statement returns it: rows in walk order, offset rows included. */
export interface LoadedRows<T> {
  /** Whether a row exists behind the cursor (see pageSql). */
  behind: boolean;
  /** [id, cursor value, row object (null for rows skipped by `offset`)] in walk order. */
  rows: [id: number, k: string | number | null, object: T | null][];
}

export interface Page<T> {
  rows: { id: number; k: string | number | null; node: T }[];
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  binding: string;
}

/** Drops the offset and the look-ahead row, restores the requested order, sets pageInfo. */
export function finishPage<T>(plan: PlannedPage, loaded: LoadedRows<T>): Page<T> {
  const all = loaded.rows;
  const skipped = Math.min(plan.offset, all.length);
  const ahead = all.length - skipped;
  const more = ahead > plan.limit;
  const rows: Page<T>['rows'] = [];
  const end = skipped + Math.min(ahead, plan.limit);
  for (let i = skipped; i < end; i++) {
    const [id, k, node] = all[i] as LoadedRows<T>['rows'][number];
    if (node !== null) rows.push({ id, k, node });
  }
  if (plan.backward) rows.reverse();
  const before = loaded.behind || skipped > 0;
  return {
    rows,
    hasNextPage: plan.backward ? before : more,
    hasPreviousPage: plan.backward ? more : before,
    binding: plan.binding,
  };
}

/** The cursor of a row of `page`: its list binding, sort value and id, signed. */
export function rowCursor(binding: string, k: string | number | null, id: number): string {
  // Unambiguous: the id is a number, the binding's parts hold no `|`, and the value comes last.
  const key = `${id}|${binding}|${typeof k}|${k}`;
  let cursor = recentCursors.get(key);
  if (cursor === undefined) {
    cursor = encodeCursor({ b: binding, v: k, i: id });
    if (recentCursors.size >= RECENT_CURSORS) recentCursors = new Map();
    recentCursors.set(key, cursor);
  }
  return cursor;
}
