/**
 * The schema builder: plugins, scalars and root types. No domain types live here;
 * each entity has its own file under src/schema/.
 */
import SchemaBuilder from '@pothos/core';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin from '@pothos/plugin-relay';
import TracingPlugin from '@pothos/plugin-tracing';
import { GraphQLError, type GraphQLResolveInfo, Kind } from 'graphql';
import { requireViewer, rowVisible, type VisibleRow } from './auth/rules.ts';
import type { Context } from './context.ts';
import { badInput } from './errors.ts';
import type PrismaTypes from './generated/pothos-types.ts';
import { getDatamodel } from './generated/pothos-types.ts';
import { encodeGlobalId } from './global-id.ts';
import { shouldTrace, traceResolver } from './observability/profile.ts';
import { loadById } from './read/engine.ts';
import { modelOf } from './read/model.ts';

export const NODE_TYPES = new Set(['User', 'Client', 'Project', 'Post', 'Deliverable']);

export { encodeGlobalId };

/** Global IDs are base64url of `Type:id`; anything else is refused with a typed error. */
export function decodeGlobalId(globalId: string, field = 'id'): { typename: string; id: string } {
  const text = Buffer.from(globalId, 'base64url').toString('utf8');
  const sep = text.indexOf(':');
  const typename = text.slice(0, sep);
  const id = text.slice(sep + 1);
  if (
    sep < 1 ||
    (!NODE_TYPES.has(typename) && typename !== 'BackgroundJob') ||
    !/^[1-9]\d{0,9}$/.test(id) ||
    Number(id) > 2_147_483_647 // ids are int4; a larger one would fail in SQL
  ) {
    throw badInput(field, `\`${field}\` is not a valid Postline ID`);
  }
  return { typename, id };
}

/** A node by decoded global ID, through the read engine; null when no model or no row. */
async function loadNode(
  ctx: Context,
  info: GraphQLResolveInfo,
  id: { typename: string; id: string },
): Promise<VisibleRow | null> {
  const model = modelOf(id.typename);
  if (!model) return null;
  return (await loadById(ctx, info, model, Number(id.id))) as VisibleRow | null;
}

const parseDateTime = (value: unknown): Date => {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T/.test(value)) {
    throw new GraphQLError('DateTime must be an ISO-8601 string such as 2026-01-31T09:00:00Z', {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  }
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) {
    throw new GraphQLError(`DateTime "${value}" is not a valid date`, {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  }
  return d;
};

const parseDate = (value: unknown): Date => {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    throw new GraphQLError('Date must be a calendar date such as 2026-01-31', {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  }
  const d = new Date(`${value}T00:00:00Z`);
  if (Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== value) {
    throw new GraphQLError(`Date "${value}" does not exist`, {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  }
  return d;
};

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

export const builder = new SchemaBuilder<{
  Context: Context;
  PrismaTypes: PrismaTypes;
  DefaultFieldNullability: false;
  DefaultEdgesNullability: false;
  DefaultNodeNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    Date: { Input: Date; Output: Date };
    ID: { Input: string; Output: string | number };
    /** A file part of a GraphQL multipart request (input only; see schema/assets.ts). */
    Upload: { Input: File; Output: never };
  };
}>({
  // Tracing first, so its wrapper times everything the other plugins add to a resolver.
  plugins: [TracingPlugin, PrismaPlugin, RelayPlugin],
  tracing: {
    default: shouldTrace,
    wrap: (resolver, _options, field) =>
      traceResolver(resolver, `${field.parentType}.${field.name}`),
  },
  defaultFieldNullability: false,
  prisma: {
    client: (ctx) => ctx.prisma,
    dmmf: getDatamodel(),
    exposeDescriptions: true,
    filterConnectionTotalCount: true,
    onUnusedQuery: process.env.NODE_ENV === 'development' ? 'warn' : null,
  },
  // Descriptions of what the relay plugin generates (Node, PageInfo, edges, page arguments,
  // node/nodes, mutation `input` arguments); test/schema-docs.test.ts requires them.
  relay: {
    nodeTypeOptions: {
      description: 'An object with a global ID. Any of them can be loaded with `node(id:)`.',
    },
    idFieldOptions: {
      description:
        'Global ID: an opaque string, unique across types and stable. Use it with `node(id:)`, in mutation inputs and as a cache key.',
    },
    pageInfoTypeOptions: {
      description: 'Where a page sits in its list. Exact in both directions, also after deletes.',
    },
    pageInfoFieldOptions: { description: 'Whether more items lie before or after this page.' },
    hasNextPageFieldOptions: {
      description: 'True when items follow this page: page on with `first` and `after: endCursor`.',
    },
    hasPreviousPageFieldOptions: {
      description:
        'True when items precede this page: page back with `last` and `before: startCursor`.',
    },
    startCursorFieldOptions: {
      description: "The first edge's cursor; null on an empty page.",
    },
    endCursorFieldOptions: { description: "The last edge's cursor; null on an empty page." },
    cursorFieldOptions: {
      description:
        'Opaque, signed position of this item, for `after`/`before`. Valid only for the same list, parent and order.',
    },
    nodeFieldOptions: { nullable: false, description: 'The item.' },
    edgesFieldOptions: {
      nullable: false,
      description: "The page's items, in the list's order; empty past the end.",
    },
    firstArgOptions: {
      description:
        'Page forward: at most this many items, 0 to 100. Default 20 when neither `first` nor `last` is given. Not with `last` or `before` (BAD_USER_INPUT).',
    },
    afterArgOptions: {
      description:
        'Start after this cursor (`pageInfo.endCursor` or an edge `cursor` of the same list and order). A cursor from elsewhere or altered is refused with BAD_USER_INPUT.',
    },
    lastArgOptions: {
      description:
        'Page backward: at most this many items, 0 to 100, ending at `before` or at the end of the list. Not with `first` or `after` (BAD_USER_INPUT).',
    },
    beforeArgOptions: {
      description:
        'End before this cursor (`pageInfo.startCursor` or an edge `cursor` of the same list and order); use with `last`.',
    },
    mutationInputArgOptions: {
      description: "The mutation's arguments; limits are on each field of the input type.",
    },
    clientMutationId: 'omit',
    cursorType: 'String',
    encodeGlobalID: encodeGlobalId,
    decodeGlobalID: (id: string) => decodeGlobalId(id),
    // node(id:) and nodes(ids:) apply the same visibility rules as every list.
    // node(id:) and nodes(ids:) load through the read engine (one statement per type, with
    // the relations the selection asks for) and apply the same visibility rules as every list.
    nodeQueryOptions: {
      nullable: true,
      description:
        'Any object by its global ID, or null when it does not exist or the caller may not see it. Needs a signed-in user (UNAUTHENTICATED); a malformed ID is BAD_USER_INPUT.',
      args: { id: { description: 'A global ID from any `id` field.' } },
      resolve: async (_root, { id }, ctx, info) => {
        const viewer = requireViewer(ctx);
        const node = await loadNode(ctx, info, id);
        return (node && rowVisible(viewer, id.typename, node) ? node : null) as never;
      },
    },
    nodesQueryOptions: {
      nullable: { list: false, items: true },
      description:
        'Objects by global ID, in the order asked; null in place of one that does not exist or the caller may not see. Needs a signed-in user.',
      args: { ids: { description: 'At most 100 global IDs (more is BAD_USER_INPUT).' } },
      resolve: async (_root, { ids }, ctx, info) => {
        const viewer = requireViewer(ctx);
        if (ids.length > 100) throw badInput('ids', '`ids` may hold at most 100 IDs');
        const nodes = await Promise.all(ids.map((id) => loadNode(ctx, info, id)));
        return nodes.map((node, i) =>
          node && rowVisible(viewer, ids[i]?.typename ?? '', node) ? node : null,
        ) as never;
      },
    },
  },
});

builder.scalarType('DateTime', {
  description:
    'An instant, as an ISO-8601 string with a time zone (`2026-01-31T09:00:00+01:00`). Output is always UTC with milliseconds (`2026-01-31T08:00:00.000Z`); invalid input is BAD_USER_INPUT.',
  // The read engine delivers instants already printed (ISO-8601, UTC, milliseconds); Prisma
  // results carry Dates.
  serialize: (value) =>
    typeof value === 'string' && ISO_INSTANT.test(value)
      ? value
      : (value instanceof Date ? value : new Date(String(value))).toISOString(),
  parseValue: parseDateTime,
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) throw new GraphQLError('DateTime must be a string');
    return parseDateTime(ast.value);
  },
});

builder.scalarType('Date', {
  description:
    'A calendar date without time zone, as YYYY-MM-DD. A malformed or non-existent date (2026-02-30) is BAD_USER_INPUT.',
  serialize: (value) =>
    typeof value === 'string' && ISO_DATE.test(value)
      ? value
      : (value instanceof Date ? value : new Date(String(value))).toISOString().slice(0, 10),
  parseValue: parseDate,
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) throw new GraphQLError('Date must be a string');
    return parseDate(ast.value);
  },
});

export const OrderDirection = builder.enumType('OrderDirection', {
  description: 'Sort direction. Empty values (a null date) sort last in ASC, first in DESC.',
  values: {
    ASC: { description: 'Smallest first: oldest, earliest, A to Z.' },
    DESC: { description: 'Largest first: newest, latest, Z to A.' },
  } as const,
});

builder.queryType({
  description:
    "Reads. Every field but `viewer` needs `Authorization: Bearer <token>` (UNAUTHENTICATED without). CLIENT users see only their own client's data.",
});
builder.mutationType({
  description:
    'Writes. Each but `login` needs a signed-in user (UNAUTHENTICATED) whose role may make it (FORBIDDEN). Invalid input is BAD_USER_INPUT naming the field in `extensions.field`.',
});
