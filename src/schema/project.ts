import { canSeeClient, clientScope, MANAGERS, requireRole, requireViewer } from '../auth/rules.ts';
import { builder, OrderDirection } from '../builder.ts';
import { listTags } from '../cache/tags.ts';
import { announceWrites, projectState } from '../cache/writes.ts';
import type { Context } from '../context.ts';
import { Prisma } from '../db/prisma.ts';
import { badInput, notFound } from '../errors.ts';
import type { ProjectStatus } from '../generated/prisma/enums.ts';
import { type ListConnection, resolveList, toOne } from '../read/engine.ts';
import type { PageArgs } from '../read/keyset.ts';
import { defineModel } from '../read/model.ts';
import { Client, clientModel } from './client.ts';
import {
  Deliverable,
  DeliverableConnection,
  deliverableListArgs,
  resolveDeliverables,
} from './deliverable.ts';
import { ProjectStatusEnum } from './enums.ts';
import { payloadQuery } from './lists.ts';
import { Post, PostConnection, postListArgs, resolvePosts } from './post.ts';
import { dateOrder, idOf, optionalId, text, transition } from './validate.ts';

/** What the read engine reads for a project (src/read/). */
export const projectModel = defineModel({
  typename: 'Project',
  table: 'projects',
  columns: {
    name: 'text',
    description: 'text',
    status: 'enum',
    startDate: 'date',
    dueDate: 'date',
    budgetCents: 'int',
    createdAt: 'timestamptz',
    updatedAt: 'timestamptz',
    clientId: 'int',
  },
  relations: { client: { model: () => clientModel, fk: 'client_id', nullable: false } },
  lists: ['posts', 'deliverables'],
  always: ['clientId'],
  orders: {
    DUE_DATE: { column: 'due_date', type: 'date', nullable: true },
    NAME: { column: 'name', type: 'text', nullable: false },
    CREATED_AT: { column: 'created_at', type: 'timestamptz', nullable: false },
  },
});

export const Project = builder.prismaNode('Project', {
  id: { field: 'id' },
  nullable: true,
  fields: (t) => ({
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    status: t.expose('status', { type: ProjectStatusEnum }),
    startDate: t.expose('startDate', { type: 'Date', nullable: true }),
    dueDate: t.expose('dueDate', { type: 'Date', nullable: true }),
    budgetCents: t.exposeInt('budgetCents'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    posts: t.connection(
      {
        type: Post,
        args: postListArgs,
        resolve: (project, args, ctx, info) =>
          resolvePosts(ctx, info, args, [], { column: 'project_id', id: project.id }) as never,
      },
      PostConnection,
    ),
    deliverables: t.connection(
      {
        type: Deliverable,
        args: deliverableListArgs,
        resolve: (project, args, ctx, info) =>
          resolveDeliverables(ctx, info, args, { column: 'project_id', id: project.id }) as never,
      },
      DeliverableConnection,
    ),
  }),
});

export const ProjectConnection = builder.connectionObject({
  type: Project,
  name: 'ProjectConnection',
  fields: (t) => ({
    totalCount: t.int({ resolve: (c) => (c as unknown as ListConnection).totalCount() }),
  }),
});

const ProjectOrderField = builder.enumType('ProjectOrderField', {
  values: ['DUE_DATE', 'NAME', 'CREATED_AT'] as const,
});
const ProjectOrder = builder.inputType('ProjectOrder', {
  fields: (t) => ({
    field: t.field({ type: ProjectOrderField, required: true }),
    direction: t.field({ type: OrderDirection, required: true }),
  }),
});
const ProjectFilter = builder.inputType('ProjectFilter', {
  fields: (t) => ({
    clientId: t.id(),
    status: t.field({ type: [ProjectStatusEnum] }),
  }),
});

export const projectListArgs = builder.args((t) => ({
  filter: t.field({ type: ProjectFilter }),
  orderBy: t.field({ type: ProjectOrder, description: 'Default: CREATED_AT DESC.' }),
  offset: t.int({ description: 'Rows to skip after the cursor, at most 1000.' }),
}));

export function resolveProjects(
  ctx: Context,
  info: Parameters<typeof resolveList>[1],
  args: PageArgs & {
    filter?: typeof ProjectFilter.$inferInput | null;
    orderBy?: { field: string; direction: 'ASC' | 'DESC' } | null;
  },
  parent?: { column: string; id: number },
) {
  const viewer = requireViewer(ctx);
  const where: Prisma.Sql[] = [];
  const scope = clientScope(viewer);
  if (scope !== null) where.push(Prisma.sql`t.client_id = ${scope}`);
  const clientId = optionalId('filter.clientId', args.filter?.clientId, 'Client');
  if (clientId !== undefined) where.push(Prisma.sql`t.client_id = ${clientId}`);
  const status = args.filter?.status;
  if (status?.length === 1) where.push(Prisma.sql`t.status = ${status[0]}::"ProjectStatus"`);
  else if (status?.length) where.push(Prisma.sql`t.status = ANY(${status}::"ProjectStatus"[])`);
  return resolveList(ctx, info, args, {
    model: projectModel,
    name: parent ? `${parent.column}.projects` : 'projects',
    order: args.orderBy ?? { field: 'CREATED_AT', direction: 'DESC' },
    where,
    ...(parent ? { parent } : {}),
    cacheTags: listTags('Project', {
      c: scope ?? (parent?.column === 'client_id' ? parent.id : clientId),
      s: status ?? [],
    }),
  });
}

builder.queryField('projects', (t) =>
  t.connection(
    {
      type: Project,
      args: projectListArgs,
      resolve: (_root, args, ctx, info) => resolveProjects(ctx, info, args) as never,
    },
    ProjectConnection,
  ),
);

// ---- mutations ----------------------------------------------------------------------

const NEXT_STATUS: Record<ProjectStatus, readonly ProjectStatus[]> = {
  PLANNING: ['ACTIVE', 'ON_HOLD', 'ARCHIVED'],
  ACTIVE: ['ON_HOLD', 'COMPLETED', 'ARCHIVED'],
  ON_HOLD: ['ACTIVE', 'ARCHIVED'],
  COMPLETED: ['ACTIVE', 'ARCHIVED'],
  ARCHIVED: ['PLANNING'],
};

export async function visibleProject(ctx: Context, field: string, globalId: string) {
  const viewer = requireViewer(ctx);
  const project = await ctx.prisma.project.findUnique({
    where: { id: idOf(field, globalId, 'Project') },
  });
  if (!project || !canSeeClient(viewer, project.clientId)) {
    throw notFound(field, `No project with ID ${globalId}`);
  }
  return project;
}

function budget(value: number | null | undefined): number | undefined {
  if (value == null) return undefined;
  if (value < 0) throw badInput('input.budgetCents', '`input.budgetCents` must not be negative');
  return value;
}

builder.relayMutationField(
  'createProject',
  {
    inputFields: (t) => ({
      clientId: t.id({ required: true }),
      name: t.string({ required: true }),
      description: t.string(),
      startDate: t.field({ type: 'Date' }),
      dueDate: t.field({ type: 'Date' }),
      budgetCents: t.int(),
    }),
  },
  {
    resolve: async (_root, { input }, ctx, info) => {
      requireRole(ctx, MANAGERS, 'create projects');
      const clientId = idOf('input.clientId', input.clientId, 'Client');
      const name = text('input.name', input.name, { max: 200 });
      const description = text('input.description', input.description ?? '', { min: 0, max: 5000 });
      dateOrder('input.dueDate', input.startDate ?? null, input.dueDate ?? null);
      const budgetCents = budget(input.budgetCents) ?? 0;
      const client = await ctx.prisma.client.findUnique({ where: { id: clientId } });
      if (!client) throw notFound('input.clientId', `No client with ID ${input.clientId}`);
      if (client.status === 'ARCHIVED') {
        throw badInput('input.clientId', `Client ${input.clientId} is archived`);
      }
      const project = await ctx.prisma.project.create({
        ...payloadQuery(ctx, info, 'project'),
        data: {
          clientId,
          name,
          description,
          startDate: input.startDate ?? null,
          dueDate: input.dueDate ?? null,
          budgetCents,
        },
      });
      await announceWrites(ctx, [
        { typename: 'Project', id: project.id, states: [projectState(project)] },
      ]);
      return { project };
    },
  },
  { outputFields: (t) => ({ project: t.field({ type: Project, resolve: (p) => p.project }) }) },
);

builder.relayMutationField(
  'updateProject',
  {
    inputFields: (t) => ({
      id: t.id({ required: true }),
      name: t.string(),
      description: t.string(),
      status: t.field({ type: ProjectStatusEnum }),
      startDate: t.field({ type: 'Date' }),
      dueDate: t.field({ type: 'Date' }),
      budgetCents: t.int(),
    }),
  },
  {
    resolve: async (_root, { input }, ctx, info) => {
      requireRole(ctx, MANAGERS, 'update projects');
      const existing = await visibleProject(ctx, 'input.id', input.id);
      const data: Prisma.ProjectUncheckedUpdateInput = {};
      if (input.name != null) data.name = text('input.name', input.name, { max: 200 });
      if (input.description != null) {
        data.description = text('input.description', input.description, { min: 0, max: 5000 });
      }
      if (input.status != null) {
        transition('input.status', existing.status, input.status, NEXT_STATUS);
        data.status = input.status;
      }
      const startDate = input.startDate !== undefined ? input.startDate : existing.startDate;
      const dueDate = input.dueDate !== undefined ? input.dueDate : existing.dueDate;
      dateOrder('input.dueDate', startDate, dueDate);
      if (input.startDate !== undefined) data.startDate = input.startDate;
      if (input.dueDate !== undefined) data.dueDate = input.dueDate;
      const budgetCents = budget(input.budgetCents);
      if (budgetCents !== undefined) data.budgetCents = budgetCents;
      const project = await ctx.prisma.project.update({
        ...payloadQuery(ctx, info, 'project'),
        where: { id: existing.id },
        data,
      });
      await announceWrites(ctx, [
        {
          typename: 'Project',
          id: project.id,
          states: [projectState(existing), projectState(project)],
        },
      ]);
      return { project };
    },
  },
  { outputFields: (t) => ({ project: t.field({ type: Project, resolve: (p) => p.project }) }) },
);

builder.relayMutationField(
  'archiveProject',
  { inputFields: (t) => ({ id: t.id({ required: true }) }) },
  {
    resolve: async (_root, { input }, ctx, info) => {
      requireRole(ctx, MANAGERS, 'archive projects');
      const existing = await visibleProject(ctx, 'input.id', input.id);
      const project = await ctx.prisma.project.update({
        ...payloadQuery(ctx, info, 'project'),
        where: { id: existing.id },
        data: { status: 'ARCHIVED' },
      });
      await announceWrites(ctx, [
        {
          typename: 'Project',
          id: project.id,
          states: [projectState(existing), projectState(project)],
        },
      ]);
      return { project };
    },
  },
  { outputFields: (t) => ({ project: t.field({ type: Project, resolve: (p) => p.project }) }) },
);

// The to-one relation, added after the types exist (client.ts imports this file).
builder.objectField(Project, 'client', (t) =>
  t.field({ type: Client, resolve: toOne(() => clientModel, 'client', 'clientId') }),
);
