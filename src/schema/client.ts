import { clientScope, MANAGERS, requireRole, requireViewer } from '../auth/rules.ts';
import { builder, OrderDirection } from '../builder.ts';
import { listTags } from '../cache/tags.ts';
import { announceWrites } from '../cache/writes.ts';
import type { Context } from '../context.ts';
import { Prisma } from '../db/prisma.ts';
import { badInput, notFound } from '../errors.ts';
import { type ListConnection, resolveList } from '../read/engine.ts';
import { defineModel } from '../read/model.ts';
import { ClientStatusEnum } from './enums.ts';
import { payloadQuery } from './lists.ts';
import { Project, ProjectConnection, projectListArgs, resolveProjects } from './project.ts';
import { idOf, likePattern, text } from './validate.ts';

/** What the read engine reads for a client (src/read/). */
export const clientModel = defineModel({
  typename: 'Client',
  table: 'clients',
  columns: {
    name: 'text',
    slug: 'text',
    industry: 'text',
    status: 'enum',
    createdAt: 'timestamptz',
    updatedAt: 'timestamptz',
  },
  lists: ['projects'],
  orders: { NAME: { column: 'name', type: 'text', nullable: false } },
});

export const Client = builder.prismaNode('Client', {
  id: { field: 'id' },
  nullable: true,
  fields: (t) => ({
    name: t.exposeString('name'),
    slug: t.exposeString('slug'),
    industry: t.exposeString('industry'),
    status: t.expose('status', { type: ClientStatusEnum }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    projects: t.connection(
      {
        type: Project,
        args: projectListArgs,
        resolve: (client, args, ctx, info) =>
          resolveProjects(ctx, info, args, { column: 'client_id', id: client.id }) as never,
      },
      ProjectConnection,
    ),
  }),
});

export const ClientConnection = builder.connectionObject({
  type: Client,
  name: 'ClientConnection',
  fields: (t) => ({
    totalCount: t.int({
      resolve: (c) => (c as unknown as ListConnection).totalCount(),
    }),
  }),
});

const ClientOrderField = builder.enumType('ClientOrderField', { values: ['NAME'] as const });
const ClientOrder = builder.inputType('ClientOrder', {
  fields: (t) => ({
    field: t.field({ type: ClientOrderField, required: true }),
    direction: t.field({ type: OrderDirection, required: true }),
  }),
});
const ClientFilter = builder.inputType('ClientFilter', {
  fields: (t) => ({
    status: t.field({ type: [ClientStatusEnum] }),
    search: t.string({ description: 'Case-insensitive text in the name.' }),
  }),
});

builder.queryField('clients', (t) =>
  t.connection(
    {
      type: Client,
      args: {
        filter: t.arg({ type: ClientFilter }),
        orderBy: t.arg({ type: ClientOrder, description: 'Default: NAME ASC.' }),
        offset: t.arg.int({ description: 'Rows to skip after the cursor, at most 1000.' }),
      },
      resolve: (_root, args, ctx, info) => {
        const viewer = requireViewer(ctx);
        const where: Prisma.Sql[] = [];
        const scope = clientScope(viewer);
        if (scope !== null) where.push(Prisma.sql`t.id = ${scope}`);
        const status = args.filter?.status;
        if (status?.length) where.push(Prisma.sql`t.status = ANY(${status}::"ClientStatus"[])`);
        const search = args.filter?.search?.trim();
        if (search) where.push(Prisma.sql`t.name ILIKE ${likePattern(search)}`);
        return resolveList(ctx, info, args, {
          model: clientModel,
          name: 'clients',
          order: args.orderBy ?? { field: 'NAME', direction: 'ASC' },
          where,
          cacheTags: listTags('Client', {}),
        }) as never;
      },
    },
    ClientConnection,
  ),
);

const SLUG = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

function slugOf(field: string, value: string): string {
  const slug = text(field, value, { max: 100 });
  if (!SLUG.test(slug)) {
    throw badInput(field, `\`${field}\` may hold lower-case letters, digits and single hyphens`);
  }
  return slug;
}

async function uniqueSlug<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') {
      throw badInput('input.slug', '`input.slug` is already used by another client');
    }
    throw err;
  }
}

async function existingClient(ctx: Context, globalId: string) {
  const client = await ctx.prisma.client.findUnique({
    where: { id: idOf('input.id', globalId, 'Client') },
  });
  if (!client) throw notFound('input.id', `No client with ID ${globalId}`);
  return client;
}

builder.relayMutationField(
  'createClient',
  {
    inputFields: (t) => ({
      name: t.string({ required: true }),
      slug: t.string({ required: true }),
      industry: t.string({ required: true }),
    }),
  },
  {
    resolve: async (_root, { input }, ctx, info) => {
      requireRole(ctx, MANAGERS, 'create clients');
      const data = {
        name: text('input.name', input.name, { max: 200 }),
        slug: slugOf('input.slug', input.slug),
        industry: text('input.industry', input.industry, { max: 100 }),
      };
      const client = await uniqueSlug(() =>
        ctx.prisma.client.create({ ...payloadQuery(ctx, info, 'client'), data }),
      );
      await announceWrites(ctx, [{ typename: 'Client', id: client.id, states: [{}] }]);
      return { client };
    },
  },
  { outputFields: (t) => ({ client: t.field({ type: Client, resolve: (p) => p.client }) }) },
);

builder.relayMutationField(
  'updateClient',
  {
    inputFields: (t) => ({
      id: t.id({ required: true }),
      name: t.string(),
      slug: t.string(),
      industry: t.string(),
    }),
  },
  {
    resolve: async (_root, { input }, ctx, info) => {
      requireRole(ctx, MANAGERS, 'update clients');
      const existing = await existingClient(ctx, input.id);
      const data: Prisma.ClientUpdateInput = {};
      if (input.name != null) data.name = text('input.name', input.name, { max: 200 });
      if (input.slug != null) data.slug = slugOf('input.slug', input.slug);
      if (input.industry != null)
        data.industry = text('input.industry', input.industry, { max: 100 });
      const client = await uniqueSlug(() =>
        ctx.prisma.client.update({
          ...payloadQuery(ctx, info, 'client'),
          where: { id: existing.id },
          data,
        }),
      );
      await announceWrites(ctx, [{ typename: 'Client', id: client.id, states: [{}] }]);
      return { client };
    },
  },
  { outputFields: (t) => ({ client: t.field({ type: Client, resolve: (p) => p.client }) }) },
);

builder.relayMutationField(
  'archiveClient',
  { inputFields: (t) => ({ id: t.id({ required: true }) }) },
  {
    resolve: async (_root, { input }, ctx, info) => {
      requireRole(ctx, MANAGERS, 'archive clients');
      const existing = await existingClient(ctx, input.id);
      const client = await ctx.prisma.client.update({
        ...payloadQuery(ctx, info, 'client'),
        where: { id: existing.id },
        data: { status: 'ARCHIVED' },
      });
      await announceWrites(ctx, [{ typename: 'Client', id: client.id, states: [{}] }]);
      return { client };
    },
  },
  { outputFields: (t) => ({ client: t.field({ type: Client, resolve: (p) => p.client }) }) },
);
