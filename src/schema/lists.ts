/**
 * Glue between GraphQL connection fields and the keyset pager in connection.ts: decodes
 * arguments, loads the page's rows with the selection Pothos planned for `edges.node`, and
 * builds the connection (edges, pageInfo, a lazy `totalCount`).
 */
import { queryFromInfo } from '@pothos/plugin-prisma';
import type { GraphQLResolveInfo } from 'graphql';
import type { Context } from '../context.ts';
import type { Prisma } from '../db/prisma.ts';
import {
  countRows,
  type Direction,
  fieldKey,
  type ListSpec,
  loadNestedPages,
  loadPage,
  nestedLoader,
  type PageArgs,
  type PageResult,
  rowCursor,
} from './connection.ts';

export interface ListConnection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: {
    hasNextPage: boolean;
    hasPreviousPage: boolean;
    startCursor: string | null;
    endCursor: string | null;
  };
  totalCount: () => Promise<number>;
}

export interface ListOptions<T> {
  spec: ListSpec;
  typeName: string;
  order: { field: string; direction: Direction };
  where: Prisma.Sql[];
  /** Loads rows by id with Pothos's planned selection spread in. */
  findMany: (ids: number[], query: object) => Promise<T[]>;
  /** Nested lists: the parent's id and the column that references it. */
  parent?: { column: string; id: number };
  /** The list partitions this list reads (cache/tags.ts `listTags`), for cache invalidation. */
  cacheTags: string[];
}

function nodeQuery(ctx: Context, info: GraphQLResolveInfo, typeName: string): object {
  return queryFromInfo({ context: ctx, info, typeName, path: ['edges', 'node'] }) as object;
}

function build<T extends { id: number }>(
  page: PageResult,
  rows: Map<number, T>,
  totalCount: () => Promise<number>,
): ListConnection<T> {
  const edges: ListConnection<T>['edges'] = [];
  for (const r of page.rows) {
    const node = rows.get(r.id);
    // A row deleted between the id query and the load simply drops out of the page.
    if (!node) continue;
    // Signed lazily: only when the client selects `cursor` (or pageInfo needs it).
    let cursor: string | undefined;
    edges.push({
      get cursor() {
        cursor ??= rowCursor(page, r);
        return cursor;
      },
      node,
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

export async function resolveList<T extends { id: number }>(
  ctx: Context,
  info: GraphQLResolveInfo,
  args: PageArgs,
  opts: ListOptions<T>,
): Promise<ListConnection<T>> {
  ctx.recordCacheTags(opts.cacheTags);
  const req = {
    spec: opts.spec,
    orderField: opts.order.field,
    direction: opts.order.direction,
    args,
    where: opts.where,
    ...(opts.parent ? { parentColumn: opts.parent.column } : {}),
  };
  if (!opts.parent) {
    const page = await loadPage(ctx, req);
    const ids = page.rows.map((r) => r.id);
    const rows = ids.length ? await opts.findMany(ids, nodeQuery(ctx, info, opts.typeName)) : [];
    return build(page, new Map(rows.map((r) => [r.id, r])), async () => {
      const [n] = await countRows(ctx, opts.spec.table, opts.where);
      return n ?? 0;
    });
  }
  // Nested: every parent's page in one statement, every page's rows in one more.
  const key = fieldKey(info, args);
  const parent = opts.parent;
  // Planned for every parent, not only the one whose call starts the batch: planning records
  // the selection under this parent's path, so relations under its rows (`author`, ...) read
  // what the batched findMany loaded instead of falling back to loading it again.
  const query = nodeQuery(ctx, info, opts.typeName);
  const pages = nestedLoader(ctx, `page:${key}`, async (parentIds) => {
    const results = await loadNestedPages(ctx, req, parentIds);
    const ids = [...new Set(results.flatMap((p) => p.rows.map((r) => r.id)))];
    const rows = ids.length ? await opts.findMany(ids, query) : [];
    const byId = new Map(rows.map((r) => [r.id, r]));
    return results.map((page) => ({ page, byId }));
  });
  const counts = nestedLoader(ctx, `count:${key}`, (parentIds) =>
    countRows(ctx, opts.spec.table, opts.where, { column: parent.column, ids: parentIds }),
  );
  const { page, byId } = await pages.load(parent.id);
  return build(page, byId, () => counts.load(parent.id));
}

/** Pothos's planned selection for the object a mutation payload returns under `field`. */
export function payloadQuery(ctx: Context, info: GraphQLResolveInfo, field: string): object {
  return queryFromInfo({ context: ctx, info, path: [field] }) as object;
}
