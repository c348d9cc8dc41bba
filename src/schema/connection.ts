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

interface CursorPayload {
  /** list binding: list name, order field, direction, parent */
  b: string;
  v: string | number | null;
  i: number;
}

interface Request {
  spec: ListSpec;
  orderField: string;
  direction: Direction;
  args: PageArgs;
  /** Conditions on the table (alias `t`), ANDed. */
  where: Prisma.Sql[];
  /** For nested lists: the column holding the parent id. */
  parentColumn?: string;
}

interface PlannedPage {
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
  const expected = body ? sign(body) : '';
  if (
    !body ||
    !mac ||
    extra !== undefined ||
    mac.length !== expected.length ||
    !timingSafeEqual(Buffer.from(mac), Buffer.from(expected))
  ) {
    throw badInput(argName, `\`${argName}\` is not a valid cursor`);
  }
  const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as CursorPayload;
  if (payload.b !== binding) {
    throw badInput(
      argName,
      `\`${argName}\` is a cursor from another list or sort order; request the first page again`,
    );
  }
  return payload;
}

function planPage(req: Request, parentKey: string | number | null): PlannedPage {
  const { args } = req;
  const binding = `${req.spec.name}|${parentKey ?? ''}|${req.orderField}|${req.direction}`;
  if (args.first != null && args.last != null) {
    throw badInput('first', 'Pass either `first` or `last`, not both');
  }
  if (args.after != null && args.before != null) {
    throw badInput('after', 'Pass either `after` or `before`, not both');
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
  const backward = args.last != null || (args.before != null && args.first == null);
  const limit = (backward ? args.last : args.first) ?? DEFAULT_PAGE_SIZE;
  const rawCursor = backward ? args.before : args.after;
  const cursorArg = backward ? 'before' : 'after';
  const cursor = rawCursor != null ? decodeCursor(rawCursor, cursorArg, binding) : null;
  const walk: Direction = backward ? (req.direction === 'ASC' ? 'DESC' : 'ASC') : req.direction;
  return { limit, offset, walk, backward, cursor, binding };
}

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

/**
 * SQL returning `id, k` of one page in walk order: UNION ALL of index-range segments.
 * `extra` is ANDed to every segment (the parent condition for nested lists).
 */
function pageSql(req: Request, plan: PlannedPage, extra: Prisma.Sql | null): Prisma.Sql {
  const sort = req.spec.orders[req.orderField];
  if (!sort) throw new Error(`unknown order ${req.orderField}`);
  const col = Prisma.sql`t.${ident(sort.column)}`;
  const table = ident(req.spec.table);
  const dir = Prisma.raw(plan.walk);
  const cmp = Prisma.raw(plan.walk === 'ASC' ? '>' : '<');
  const cast = Prisma.raw(castOf[sort.type]);
  const base = extra ? [...req.where, extra] : req.where;
  const take = plan.limit + 1 + plan.offset;

  let segmentNo = 0;
  const segment = (conds: Prisma.Sql[]) => {
    const all = [...base, ...conds];
    const whereSql = all.length ? Prisma.sql`WHERE ${Prisma.join(all, ' AND ')}` : Prisma.empty;
    const n = segmentNo++;
    return Prisma.sql`(SELECT ${n}::int4 AS seg, t.id, ${col} AS k FROM ${table} t ${whereSql} ORDER BY ${col} ${dir}, t.id ${dir} LIMIT ${take})`;
  };

  const c = plan.cursor;
  const parts: Prisma.Sql[] = [];
  if (!sort.nullable) {
    parts.push(
      segment(c ? [Prisma.sql`(${col}, t.id) ${cmp} (${c.v}::${cast}, ${c.i}::int4)`] : []),
    );
  } else {
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
    if (plan.walk === 'ASC') {
      if (!c || c.v !== null) parts.push(nonNull());
      parts.push(nulls());
    } else {
      if (!c || c.v === null) parts.push(nulls());
      parts.push(nonNull());
    }
  }
  // Each segment is an index range with its own LIMIT; the outer sort sees at most
  // (segments x take) rows, never the table.
  return Prisma.sql`SELECT seg.id, seg.k FROM (${Prisma.join(parts, ' UNION ALL ')}) seg
    ORDER BY seg.seg, seg.k ${dir}, seg.id ${dir} LIMIT ${plan.limit + 1} OFFSET ${plan.offset}`;
}

function finish(req: Request, plan: PlannedPage, rows: PageRow[]): PageResult {
  const sort = req.spec.orders[req.orderField] as SortKey;
  const more = rows.length > plan.limit;
  const page = rows.slice(0, plan.limit);
  if (plan.backward) page.reverse();
  return {
    rows: page,
    hasNextPage: plan.backward ? plan.cursor !== null : more,
    hasPreviousPage: plan.backward ? more : plan.cursor !== null || plan.offset > 0,
    binding: plan.binding,
    sort,
  };
}

export function rowCursor(result: PageResult, row: PageRow): string {
  return encodeCursor({ b: result.binding, v: cursorValue(result.sort, row.k), i: row.id });
}

/** One page of a top-level list. */
export async function loadPage(ctx: Context, req: Request): Promise<PageResult> {
  const plan = planPage(req, null);
  if (plan.limit === 0) return finish(req, plan, []);
  const rows = await ctx.prisma.$queryRaw<PageRow[]>(pageSql(req, plan, null));
  return finish(req, plan, rows);
}

/** Pages of a nested list for many parents in one statement (LATERAL join). */
export async function loadNestedPages(
  ctx: Context,
  req: Request,
  parentIds: readonly number[],
): Promise<PageResult[]> {
  if (!req.parentColumn) throw new Error('nested list without parentColumn');
  const plans = parentIds.map((id) => planPage(req, id));
  const first = plans[0];
  if (!first || first.limit === 0) return plans.map((p) => finish(req, p, []));
  // Cursors differ per parent only in their binding; the page shape is shared.
  const byParent = new Map<number, PageRow[]>();
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
    const rows = await ctx.prisma.$queryRaw<(PageRow & { parent_id: number })[]>(
      Prisma.sql`SELECT p.parent_id, x.id, x.k FROM unnest(${ids}::int4[]) AS p(parent_id)
        CROSS JOIN LATERAL (${pageSql(req, plan, extra)}) x`,
    );
    for (const r of rows) {
      const list = byParent.get(r.parent_id) ?? [];
      list.push({ id: r.id, k: r.k });
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

/** Loads rows by id in the given order, with the selection planned for `edges.node`. */
export async function loadNodesInOrder<T extends { id: number }>(
  ids: readonly number[],
  find: (ids: number[]) => Promise<T[]>,
): Promise<Map<number, T>> {
  if (ids.length === 0) return new Map();
  const rows = await find([...new Set(ids)]);
  return new Map(rows.map((r) => [r.id, r]));
}
