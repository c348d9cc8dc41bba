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
  description: 'A customer of the agency. CLIENT users see only their own client.',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'Display name, 1 to 200 characters.' }),
    slug: t.exposeString('slug', {
      description: 'Unique short name: lower-case letters, digits and single hyphens, up to 100.',
    }),
    industry: t.exposeString('industry', { description: 'Free text, 1 to 100 characters.' }),
    status: t.expose('status', { type: ClientStatusEnum, description: 'ACTIVE or ARCHIVED.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was created.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'Last change.' }),
    projects: t.connection(
      {
        type: Project,
        description: "The client's projects, newest first by default.",
        args: projectListArgs,
        resolve: (client, args, ctx, info) =>
          resolveProjects(ctx, info, args, { column: 'client_id', id: client.id }) as never,
      },
      ProjectConnection,
    ),
  }),
});

export const ClientConnection = builder.connectionObject(
  {
    type: Client,
    name: 'ClientConnection',
    description: 'A page of clients.',
    fields: (t) => ({
      totalCount: t.int({
        description:
          'Clients matching the filter (all pages). Costs a count query; select it only when shown.',
        resolve: (c) => (c as unknown as ListConnection).totalCount(),
      }),
    }),
  },
  { description: 'A client in a page, with its cursor.' },
);

const ClientOrderField = builder.enumType('ClientOrderField', {
  description: 'What clients are sorted by; the ID breaks ties.',
  values: { NAME: { description: 'By name.' } } as const,
});
const ClientOrder = builder.inputType('ClientOrder', {
  description: 'Sort order of a client list.',
  fields: (t) => ({
    field: t.field({ type: ClientOrderField, required: true, description: 'Sort key.' }),
    direction: t.field({ type: OrderDirection, required: true, description: 'ASC or DESC.' }),
  }),
});
const ClientFilter = builder.inputType('ClientFilter', {
  description: 'Conditions a client must meet, all of them (omitted ones: any).',
  fields: (t) => ({
    status: t.field({ type: [ClientStatusEnum], description: 'Any of these statuses.' }),
    search: t.string({ description: 'Case-insensitive text in the name.' }),
  }),
});

builder.queryField('clients', (t) =>
  t.connection(
    {
      type: Client,
      description:
        'Clients, by name by default. Staff see every client; a CLIENT user sees only their own.',
      args: {
        filter: t.arg({ type: ClientFilter, description: 'Default: every client.' }),
        orderBy: t.arg({ type: ClientOrder, description: 'Default: NAME ASC.' }),
        offset: t.arg.int({
          description:
            'Rows to skip after the cursor, 0 to 1000 (BAD_USER_INPUT beyond: page with cursors).',
        }),
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
    description: 'A new client. Text is trimmed before it is checked.',
    inputFields: (t) => ({
      name: t.string({ required: true, description: '1 to 200 characters.' }),
      slug: t.string({
        required: true,
        description:
          'Unique; lower-case letters, digits and single hyphens, up to 100 characters (`acme-foods`). A used slug is BAD_USER_INPUT.',
      }),
      industry: t.string({ required: true, description: '1 to 100 characters.' }),
    }),
  },
  {
    description: 'Creates an ACTIVE client. ADMIN or MANAGER only (FORBIDDEN otherwise).',
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
  {
    description: 'The result of `createClient`.',
    outputFields: (t) => ({
      client: t.field({ type: Client, description: 'The new client.', resolve: (p) => p.client }),
    }),
  },
);

builder.relayMutationField(
  'updateClient',
  {
    description: 'Changes to one client; omitted or null fields stay as they are.',
    inputFields: (t) => ({
      id: t.id({ required: true, description: 'The client to change (NOT_FOUND if unknown).' }),
      name: t.string({ description: '1 to 200 characters.' }),
      slug: t.string({
        description: 'Unique; lower-case letters, digits and single hyphens, up to 100 characters.',
      }),
      industry: t.string({ description: '1 to 100 characters.' }),
    }),
  },
  {
    description: "Changes a client's name, slug or industry. ADMIN or MANAGER only.",
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
  {
    description: 'The result of `updateClient`.',
    outputFields: (t) => ({
      client: t.field({
        type: Client,
        description: 'The client as changed.',
        resolve: (p) => p.client,
      }),
    }),
  },
);

builder.relayMutationField(
  'archiveClient',
  {
    description: 'The client to archive.',
    inputFields: (t) => ({
      id: t.id({ required: true, description: 'The client to archive (NOT_FOUND if unknown).' }),
    }),
  },
  {
    description:
      'Sets a client ARCHIVED; it then takes no new projects. Its data stays. ADMIN or MANAGER only.',
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
  {
    description: 'The result of `archiveClient`.',
    outputFields: (t) => ({
      client: t.field({
        type: Client,
        description: 'The archived client.',
        resolve: (p) => p.client,
      }),
    }),
  },
);
