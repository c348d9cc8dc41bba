/**
 * Keyset (cursor) pagination for every list Postline serves.
 *
 * A page is one SQL statement: a row comparison `(sort_key, id) > ($1, $2)` with a LIMIT,
 * served by an index whose trailing columns are the sort key and `id`, so it costs the same
 * at row 1 and row 1,000,000 and does not depend on the cursor row still existing. Nullable
 * sort keys are split into a non-null and a null segment (nulls sort last ascending, first
 * descending, as PostgreSQL's default), each an index range, joined with UNION ALL so the
 * second only runs when the first runs out. Nested lists (`project.posts`) load every
 * parent's page in one statement through a LATERAL join, batched per request.
 *
 * `pageInfo` is exact in both directions: besides the page (fetched with one row more than
 * asked, which answers "is there more ahead"), the same statement probes the other side of the
 * cursor with a LIMIT 1 index probe per segment (`EXISTS`), so `hasPreviousPage` (forward) and
 * `hasNextPage` (backward) are right even after the rows before the cursor were deleted.
 * `offset` (<= 1000) is applied on the fetched rows, so skipped rows also count as "behind".
 *
 * The page's ids are then loaded with Prisma, using the selection Pothos plans from the
 * GraphQL query, so relations under `edges.node` are fetched in a constant number of queries.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import DataLoader from 'dataloader';
import type { GraphQLResolveInfo } from 'graphql';
import type { Context } from '../context.ts';
import { Prisma } from '../db/prisma.ts';
import { badInput } from '../errors.ts';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;
export const MAX_OFFSET = 1000;

export type SortType = 'timestamptz' | 'date' | 'text' | 'int';

export interface SortKey {
  /** SQL column of the sort key. */
  column: string;
  type: SortType;
  nullable: boolean;
}

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

export interface PageRow {
  id: number;
  k: unknown;
}

export interface PageResult {
  rows: PageRow[];
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  binding: string;
  sort: SortKey;
}

let cursorSecret = 'postline-cursor';
/** Cursors are signed so a tampered one is refused rather than silently re-interpreted. */
export function setCursorSecret(secret: string): void {
  cursorSecret = `cursor:${secret}`;
}

function sign(body: string): string {
  return createHmac('sha256', cursorSecret).update(body).digest('base64url').slice(0, 16);
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

function cursorValue(sort: SortKey, v: unknown): string | number | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date)
    return sort.type === 'date' ? v.toISOString().slice(0, 10) : v.toISOString();
  return v as string | number;
}

function sortOf(req: PageRequest): SortKey {
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
    return Prisma.sql`(SELECT ${Prisma.raw(String(n))}::int4 AS seg, t.id, ${col} AS k FROM ${table} t ${whereSql} ORDER BY ${col} ${dir}, t.id ${dir} LIMIT ${take})`;
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
 * SQL of one page: rows `id, k` in walk order (LIMIT limit + 1 + offset; the caller drops
 * the offset), each with `e`: whether a row exists on the other side of the cursor (the
 * cursor row included), so `hasPreviousPage` (forward) / `hasNextPage` (backward) are exact.
 * That probe is one LIMIT 1 index probe per segment. With a cursor the statement always
 * returns a row (id NULL when the page is empty) so the probe is not lost.
 * `extra` is ANDed to every segment (the parent condition for nested lists).
 */
export function pageSql(req: PageRequest, plan: PlannedPage, extra: Prisma.Sql | null): Prisma.Sql {
  const take = plan.limit + 1 + plan.offset;
  const parts = segments(req, plan.walk, plan.cursor, false, take, extra);
  const dir = Prisma.raw(plan.walk);
  // Each segment is an index range with its own LIMIT; the outer sort sees at most
  // (segments x take) rows, never the table.
  const page = Prisma.sql`SELECT seg.id, seg.k FROM (${Prisma.join(parts, ' UNION ALL ')}) seg
    ORDER BY seg.seg, seg.k ${dir}, seg.id ${dir} LIMIT ${take}`;
  if (!plan.cursor) return Prisma.sql`SELECT x.id, x.k, false AS e FROM (${page}) x`;
  const behind = segments(req, reverse(plan.walk), plan.cursor, true, 1, extra);
  return Prisma.sql`SELECT x.id, x.k, pr.e FROM (SELECT EXISTS (${Prisma.join(behind, ' UNION ALL ')}) AS e) pr
    LEFT JOIN LATERAL (${page}) x ON true`;
}

interface SqlRow {
  id: number | null;
  k: unknown;
  e: boolean;
}

function finish(req: PageRequest, plan: PlannedPage, sqlRows: SqlRow[]): PageResult {
  const sort = sortOf(req);
  const behind = sqlRows.some((r) => r.e);
  const rows: PageRow[] = [];
  for (const r of sqlRows) if (r.id !== null) rows.push({ id: r.id, k: r.k });
  const skipped = Math.min(plan.offset, rows.length);
  const ahead = rows.slice(plan.offset);
  const more = ahead.length > plan.limit;
  const page = ahead.slice(0, plan.limit);
  if (plan.backward) page.reverse();
  const before = behind || skipped > 0;
  return {
    rows: page,
    hasNextPage: plan.backward ? before : more,
    hasPreviousPage: plan.backward ? more : before,
    binding: plan.binding,
    sort,
  };
}

export function rowCursor(result: PageResult, row: PageRow): string {
  return encodeCursor({ b: result.binding, v: cursorValue(result.sort, row.k), i: row.id });
}

/** One page of a top-level list. */
export async function loadPage(ctx: Context, req: PageRequest): Promise<PageResult> {
  const plan = planPage(req, null);
  const rows = await ctx.prisma.$queryRaw<SqlRow[]>(pageSql(req, plan, null));
  return finish(req, plan, rows);
}

/** Pages of a nested list for many parents in one statement (LATERAL join). */
export async function loadNestedPages(
  ctx: Context,
  req: PageRequest,
  parentIds: readonly number[],
): Promise<PageResult[]> {
  if (!req.parentColumn) throw new Error('nested list without parentColumn');
  const plans = parentIds.map((id) => planPage(req, id));
  // Cursors differ per parent only in their binding; the page shape is shared.
  const byParent = new Map<number, SqlRow[]>();
  const extra = Prisma.sql`t.${ident(req.parentColumn)} = p.parent_id`;
  const groups = new Map<string, number[]>();
  for (const [i, plan] of plans.entries()) {
    const key = JSON.stringify(plan.cursor ? [plan.cursor.v, plan.cursor.i] : null);
    const list = groups.get(key) ?? [];
    list.push(parentIds[i] as number);
    groups.set(key, list);
  }
  for (const ids of groups.values()) {
    const plan = plans[parentIds.indexOf(ids[0] as number)] as PlannedPage;
    const rows = await ctx.prisma.$queryRaw<(SqlRow & { parent_id: number })[]>(
      Prisma.sql`SELECT p.parent_id, x.id, x.k, x.e FROM unnest(${ids}::int4[]) AS p(parent_id)
        CROSS JOIN LATERAL (${pageSql(req, plan, extra)}) x`,
    );
    for (const r of rows) {
      const list = byParent.get(r.parent_id) ?? [];
      list.push(r);
      byParent.set(r.parent_id, list);
    }
  }
  return parentIds.map((id, i) => finish(req, plans[i] as PlannedPage, byParent.get(id) ?? []));
}

/** `count(*)` of a list, or of many nested lists grouped by parent. */
export async function countRows(
  ctx: Context,
  table: string,
  where: Prisma.Sql[],
  parent?: { column: string; ids: readonly number[] },
): Promise<number[]> {
  const conds = [...where];
  if (parent) conds.push(Prisma.sql`t.${ident(parent.column)} = ANY(${parent.ids}::int4[])`);
  const whereSql = conds.length ? Prisma.sql`WHERE ${Prisma.join(conds, ' AND ')}` : Prisma.empty;
  if (!parent) {
    const rows = await ctx.prisma.$queryRaw<{ n: number }[]>(
      Prisma.sql`SELECT count(*)::int4 AS n FROM ${ident(table)} t ${whereSql}`,
    );
    return [rows[0]?.n ?? 0];
  }
  const rows = await ctx.prisma.$queryRaw<{ parent: number; n: number }[]>(
    Prisma.sql`SELECT t.${ident(parent.column)} AS parent, count(*)::int4 AS n FROM ${ident(table)} t ${whereSql} GROUP BY 1`,
  );
  const counts = new Map(rows.map((r) => [r.parent, r.n]));
  return parent.ids.map((id) => counts.get(id) ?? 0);
}

/** Per-request DataLoaders for nested lists, keyed by field position and arguments. */
export function nestedLoader<V>(
  ctx: Context,
  key: string,
  batch: (ids: readonly number[]) => Promise<V[]>,
): DataLoader<number, V> {
  let loader = ctx.loaders.get(key) as DataLoader<number, V> | undefined;
  if (!loader) {
    loader = new DataLoader<number, V>(batch, { cache: true });
    ctx.loaders.set(key, loader);
  }
  return loader;
}

/** Key of a field occurrence in the operation, ignoring list indexes, plus its arguments. */
export function fieldKey(info: GraphQLResolveInfo, args: unknown): string {
  const parts: (string | number)[] = [];
  for (let p: GraphQLResolveInfo['path'] | undefined = info.path; p; p = p.prev) {
    if (typeof p.key === 'string') parts.push(p.key);
  }
  return `${parts.reverse().join('.')}:${JSON.stringify(args)}`;
}
