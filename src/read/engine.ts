/**
 * The read engine: one SQL statement per connection level. A list page, the rows on it and the
 * to-one relations its selection asks for (`post.project.client`) come back in one statement
 * as JSON built by PostgreSQL; nested connections (`project.posts`) load every parent's page in
 * one more statement; `node(id:)` and relations a parent did not carry are loaded by id, batched
 * per request. `totalCount` is a separate count, run only when selected.
 *
 * Reads go through the API's pool as named prepared statements; writes stay with Prisma.
 */
import DataLoader from 'dataloader';
import type { GraphQLResolveInfo } from 'graphql';
import type { Context } from '../context.ts';
import { Prisma } from '../db/prisma.ts';
import { runSql } from '../db/statements.ts';
import { compileRow, formatted } from './compile.ts';
import {
  type Direction,
  finishPage,
  type ListSpec,
  type LoadedRows,
  type Page,
  type PageArgs,
  type PageRequest,
  type PlannedPage,
  pageSql,
  planPage,
  rowCursor,
  sortOf,
} from './keyset.ts';
import type { ReadModel } from './model.ts';
import { type Plan, planAt } from './plan.ts';

/** A row as the engine returns it: the model's fields by name, relations nested. */
export type Row = Record<string, unknown> & { id: number };

export interface ListConnection<T = Row> {
  edges: { readonly cursor: string; node: T }[];
  pageInfo: {
    hasNextPage: boolean;
    hasPreviousPage: boolean;
    readonly startCursor: string | null;
    readonly endCursor: string | null;
  };
  totalCount: () => Promise<number>;
}

export interface ListOptions {
  model: ReadModel;
  /** Stable list name bound into cursors (`posts`, `project_id.posts`, ...). */
  name: string;
  order: { field: string; direction: Direction };
  /** Conditions on the table (alias `t`), ANDed: visibility scope and filters. */
  where: Prisma.Sql[];
  /** Nested lists: the parent's id and the column that references it. */
  parent?: { column: string; id: number };
  /** The list partitions this list reads (cache/tags.ts `listTags`), for cache invalidation. */
  cacheTags: readonly string[];
}

const ident = (name: string) => {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad identifier ${name}`);
  return `"${name}"`;
};

/**
 * Wraps a page (seg, id, k, e rows) into the statement that also builds its rows: numbered in
 * walk order, joined to the table (only past `offset`) and to the relations the plan selects,
 * aggregated into one JSON array `[[id, cursor value, row], ...]`. For nested lists the whole
 * statement runs LATERAL once per parent id: one row per parent.
 */
function pageWithRows(
  req: PageRequest,
  plan: PlannedPage,
  row: Plan,
  page: Prisma.Sql,
  parentIds: readonly number[] | null,
): Prisma.Sql {
  const compiled = compileRow(row);
  const dir = plan.walk;
  const k = formatted('z.k', sortOf(req).type);
  const numbered = Prisma.sql`(SELECT y.*, row_number() OVER (ORDER BY y.seg, y.k ${Prisma.raw(dir)}, y.id ${Prisma.raw(dir)}) AS n FROM (${page}) y) z`;
  const rows = Prisma.raw(
    `bool_or(z.e) AS e, json_agg(json_build_array(z.id, ${k}, ${compiled.object}) ORDER BY z.n) FILTER (WHERE z.id IS NOT NULL) AS rows`,
  );
  const join = Prisma.sql`LEFT JOIN ${Prisma.raw(ident(req.spec.table))} t ON t.id = z.id AND z.n > ${plan.offset}::int4 ${Prisma.raw(compiled.joins)}`;
  const statement = Prisma.sql`SELECT ${rows} FROM ${numbered} ${join}`;
  if (parentIds === null) return statement;
  // One aggregate per parent, inside the LATERAL: no sort or grouping over all parents' rows.
  return Prisma.sql`SELECT p.parent_id AS parent, x.e, x.rows
    FROM unnest(${parentIds}::int4[]) AS p(parent_id) CROSS JOIN LATERAL (${statement}) x`;
}

interface PageRowSql {
  e: boolean | null;
  rows: LoadedRows<Row>['rows'] | null;
}

function connection(page: Page<Row>, totalCount: () => Promise<number>): ListConnection {
  const edges: ListConnection['edges'] = [];
  for (const r of page.rows) {
    // Signed lazily: only when the client selects `cursor` (or pageInfo needs it).
    let cursor: string | undefined;
    edges.push({
      get cursor() {
        cursor ??= rowCursor(page.binding, r.k, r.id);
        return cursor;
      },
      node: r.node,
    });
  }
  return {
    edges,
    pageInfo: {
      hasNextPage: page.hasNextPage,
      hasPreviousPage: page.hasPreviousPage,
      get startCursor() {
        return edges[0]?.cursor ?? null;
      },
      get endCursor() {
        return edges.at(-1)?.cursor ?? null;
      },
    },
    totalCount,
  };
}

/** A connection field: one page with its rows and relations, in one statement. */
export async function resolveList(
  ctx: Context,
  info: GraphQLResolveInfo,
  args: PageArgs,
  opts: ListOptions,
): Promise<ListConnection> {
  ctx.recordCacheTags(opts.cacheTags);
  const spec: ListSpec = { name: opts.name, table: opts.model.table, orders: opts.model.orders };
  const req: PageRequest = {
    spec,
    orderField: opts.order.field,
    direction: opts.order.direction,
    args,
    where: opts.where,
    ...(opts.parent ? { parentColumn: opts.parent.column } : {}),
  };
  const row = planAt(info, opts.model, ['edges', 'node']);
  const parent = opts.parent;
  if (!parent) {
    const plan = planPage(req, null);
    const [result] = await runSql<PageRowSql>(
      ctx,
      pageWithRows(req, plan, row, pageSql(req, plan, null), null),
    );
    const page = finishPage(plan, { behind: !!result?.e, rows: result?.rows ?? [] });
    return connection(page, async () => (await countRows(ctx, spec.table, opts.where))[0] ?? 0);
  }
  // Nested: every parent's page in one statement, batched per request and field position.
  const key = fieldKey(info, args);
  const pages = nestedLoader(ctx, `page:${key}`, (parentIds) =>
    loadNestedPages(ctx, req, row, parentIds),
  );
  const counts = nestedLoader(ctx, `count:${key}`, (parentIds) =>
    countRows(ctx, spec.table, opts.where, { column: parent.column, ids: parentIds }),
  );
  const page = await pages.load(parent.id);
  return connection(page, () => counts.load(parent.id));
}

async function loadNestedPages(
  ctx: Context,
  req: PageRequest,
  row: Plan,
  parentIds: readonly number[],
): Promise<Page<Row>[]> {
  const column = req.parentColumn as string;
  const plans = parentIds.map((id) => planPage(req, id));
  // Cursors differ per parent only in their binding; parents sharing a cursor share a statement.
  const groups = new Map<string, number[]>();
  for (const [i, plan] of plans.entries()) {
    const key = JSON.stringify(plan.cursor ? [plan.cursor.v, plan.cursor.i] : null);
    const list = groups.get(key) ?? [];
    list.push(i);
    groups.set(key, list);
  }
  const extra = Prisma.sql`t.${Prisma.raw(ident(column))} = p.parent_id`;
  const byParent = new Map<number, PageRowSql>();
  for (const indexes of groups.values()) {
    const plan = plans[indexes[0] as number] as PlannedPage;
    const ids = indexes.map((i) => parentIds[i] as number);
    const rows = await runSql<PageRowSql & { parent: number }>(
      ctx,
      pageWithRows(req, plan, row, pageSql(req, plan, extra), ids),
    );
    for (const r of rows) byParent.set(r.parent, r);
  }
  return parentIds.map((id, i) => {
    const r = byParent.get(id);
    return finishPage(plans[i] as PlannedPage, { behind: !!r?.e, rows: r?.rows ?? [] });
  });
}

/** `count(*)` of a list, or of many nested lists grouped by parent. */
export async function countRows(
  ctx: Context,
  table: string,
  where: Prisma.Sql[],
  parent?: { column: string; ids: readonly number[] },
): Promise<number[]> {
  const conds = [...where];
  if (parent) {
    conds.push(Prisma.sql`t.${Prisma.raw(ident(parent.column))} = ANY(${parent.ids}::int4[])`);
  }
  const whereSql = conds.length ? Prisma.sql`WHERE ${Prisma.join(conds, ' AND ')}` : Prisma.empty;
  if (!parent) {
    const rows = await runSql<{ n: number }>(
      ctx,
      Prisma.sql`SELECT count(*)::int4 AS n FROM ${Prisma.raw(ident(table))} t ${whereSql}`,
    );
    return [rows[0]?.n ?? 0];
  }
  const rows = await runSql<{ parent: number; n: number }>(
    ctx,
    Prisma.sql`SELECT t.${Prisma.raw(ident(parent.column))} AS parent, count(*)::int4 AS n FROM ${Prisma.raw(ident(table))} t ${whereSql} GROUP BY 1`,
  );
  const counts = new Map(rows.map((r) => [r.parent, r.n]));
  return parent.ids.map((id) => counts.get(id) ?? 0);
}

/** Rows of `plan.model` by id (with the plan's relations), batched per request and plan. */
function rowLoader(ctx: Context, plan: Plan): DataLoader<number, Row | null> {
  return nestedLoader(ctx, `rows:${plan.key}`, async (ids) => {
    const { object, joins } = compileRow(plan);
    // One id (a `node(id:)` lookup) as `= $1`: PostgreSQL keeps one generic plan for it. For
    // `= ANY($1)` it re-plans every execution (a generic plan guesses the array's length),
    // which is worth it only when the batch is larger than one.
    const match =
      ids.length === 1
        ? Prisma.sql`t.id = ${ids[0]}::int4`
        : Prisma.sql`t.id = ANY(${ids}::int4[])`;
    const [result] = await runSql<{ rows: Row[] | null }>(
      ctx,
      Prisma.sql`SELECT json_agg(${Prisma.raw(object)}) AS rows FROM ${Prisma.raw(ident(plan.model.table))} t ${Prisma.raw(joins)} WHERE ${match}`,
    );
    const byId = new Map((result?.rows ?? []).map((r) => [r.id, r]));
    return ids.map((id) => byId.get(id) ?? null);
  });
}

/**
 * The object of `model` with `id`, with what the selection of the field being resolved reads
 * of it (`node(id:)`, a payload's object). `null` when there is no such row. The row carries
 * `__typename`, which the Node interface resolves its type from.
 */
export async function loadById(
  ctx: Context,
  info: GraphQLResolveInfo,
  model: ReadModel,
  id: number,
  path: readonly string[] = [],
): Promise<Row | null> {
  const row = await rowLoader(ctx, planAt(info, model, path)).load(id);
  if (row) row.__typename = model.typename;
  return row;
}

/**
 * Resolver of a to-one relation field: the object loaded with its parent, or (a parent that
 * came from elsewhere, e.g. a mutation's Prisma result) loaded by its foreign key, batched.
 */
export function toOne(model: () => ReadModel, field: string, fkField: string) {
  // Typed `never`: the value is the related model's row, whatever Pothos expects there.
  return (parent: object, _args: unknown, ctx: Context, info: GraphQLResolveInfo): never => {
    const row = parent as Record<string, unknown>;
    const loaded = row[field];
    if (loaded !== undefined) return loaded as never;
    const fk = row[fkField];
    if (fk === null || fk === undefined) return null as never;
    return rowLoader(ctx, planAt(info, model(), [])).load(fk as number) as never;
  };
}

/** Per-request DataLoaders, keyed by field position and arguments (or plan). */
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
