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
  description: 'A body of work for one client, holding its posts and deliverables.',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'Display name, 1 to 200 characters.' }),
    description: t.exposeString('description', {
      description: 'Free text, up to 5000 characters; empty when none was given.',
    }),
    status: t.expose('status', { type: ProjectStatusEnum, description: 'Where it stands.' }),
    startDate: t.expose('startDate', {
      type: 'Date',
      nullable: true,
      description: 'Planned start.',
    }),
    dueDate: t.expose('dueDate', {
      type: 'Date',
      nullable: true,
      description: 'Planned end; never before `startDate`.',
    }),
    budgetCents: t.exposeInt('budgetCents', {
      description: 'Budget in cents (12345 = 123.45); 0 when none was set.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was created.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'Last change.' }),
    posts: t.connection(
      {
        type: Post,
        description: "The project's posts, newest first by default.",
        args: postListArgs,
        resolve: (project, args, ctx, info) =>
          resolvePosts(ctx, info, args, [], { column: 'project_id', id: project.id }) as never,
      },
      PostConnection,
    ),
    deliverables: t.connection(
      {
        type: Deliverable,
        description: "The project's deliverables, soonest due first by default.",
        args: deliverableListArgs,
        resolve: (project, args, ctx, info) =>
          resolveDeliverables(ctx, info, args, { column: 'project_id', id: project.id }) as never,
      },
      DeliverableConnection,
    ),
  }),
});

export const ProjectConnection = builder.connectionObject(
  {
    type: Project,
    name: 'ProjectConnection',
    description: 'A page of projects.',
    fields: (t) => ({
      totalCount: t.int({
        description:
          'Projects matching the filter (all pages). Costs a count query; select it only when shown.',
        resolve: (c) => (c as unknown as ListConnection).totalCount(),
      }),
    }),
  },
  { description: 'A project in a page, with its cursor.' },
);

const ProjectOrderField = builder.enumType('ProjectOrderField', {
  description: 'What projects are sorted by; the ID breaks ties.',
  values: {
    DUE_DATE: { description: 'By due date; projects without one sort as the latest.' },
    NAME: { description: 'By name.' },
    CREATED_AT: { description: 'By creation time.' },
  } as const,
});
const ProjectOrder = builder.inputType('ProjectOrder', {
  description: 'Sort order of a project list.',
  fields: (t) => ({
    field: t.field({ type: ProjectOrderField, required: true, description: 'Sort key.' }),
    direction: t.field({ type: OrderDirection, required: true, description: 'ASC or DESC.' }),
  }),
});
const ProjectFilter = builder.inputType('ProjectFilter', {
  description: 'Conditions a project must meet, all of them (omitted ones: any).',
  fields: (t) => ({
    clientId: t.id({ description: "Only this client's projects (a Client ID)." }),
    status: t.field({ type: [ProjectStatusEnum], description: 'Any of these statuses.' }),
  }),
});

export const projectListArgs = builder.args((t) => ({
  filter: t.field({ type: ProjectFilter, description: 'Default: every project.' }),
  orderBy: t.field({ type: ProjectOrder, description: 'Default: CREATED_AT DESC.' }),
  offset: t.int({
    description:
      'Rows to skip after the cursor, 0 to 1000 (BAD_USER_INPUT beyond: page with cursors).',
  }),
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
      description: "Projects, newest first by default. CLIENT users see only their own client's.",
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
    description: 'A new project. Text is trimmed before it is checked.',
    inputFields: (t) => ({
      clientId: t.id({
        required: true,
        description: 'The client it is for; NOT_FOUND if unknown, BAD_USER_INPUT if archived.',
      }),
      name: t.string({ required: true, description: '1 to 200 characters.' }),
      description: t.string({ description: 'Up to 5000 characters. Default: empty.' }),
      startDate: t.field({ type: 'Date', description: 'Planned start.' }),
      dueDate: t.field({
        type: 'Date',
        description: 'Planned end; before `startDate` is BAD_USER_INPUT.',
      }),
      budgetCents: t.int({ description: 'In cents, not negative. Default: 0.' }),
    }),
  },
  {
    description: 'Creates a PLANNING project for a client. ADMIN or MANAGER only.',
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
  {
    description: 'The result of `createProject`.',
    outputFields: (t) => ({
      project: t.field({
        type: Project,
        description: 'The new project.',
        resolve: (p) => p.project,
      }),
    }),
  },
);

builder.relayMutationField(
  'updateProject',
  {
    description: 'Changes to one project; omitted fields stay as they are.',
    inputFields: (t) => ({
      id: t.id({ required: true, description: 'The project to change (NOT_FOUND if unknown).' }),
      name: t.string({ description: '1 to 200 characters.' }),
      description: t.string({ description: 'Up to 5000 characters.' }),
      status: t.field({
        type: ProjectStatusEnum,
        description: 'New status; only the moves listed on ProjectStatus are allowed.',
      }),
      startDate: t.field({ type: 'Date', description: 'Planned start; null clears it.' }),
      dueDate: t.field({
        type: 'Date',
        description: 'Planned end; null clears it. Before `startDate` is BAD_USER_INPUT.',
      }),
      budgetCents: t.int({ description: 'In cents, not negative.' }),
    }),
  },
  {
    description: 'Changes a project. ADMIN or MANAGER only.',
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
  {
    description: 'The result of `updateProject`.',
    outputFields: (t) => ({
      project: t.field({
        type: Project,
        description: 'The project as changed.',
        resolve: (p) => p.project,
      }),
    }),
  },
);

builder.relayMutationField(
  'archiveProject',
  {
    description: 'The project to archive.',
    inputFields: (t) => ({
      id: t.id({ required: true, description: 'The project to archive (NOT_FOUND if unknown).' }),
    }),
  },
  {
    description:
      'Sets a project ARCHIVED from any status; it then takes no new posts. ADMIN or MANAGER only.',
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
  {
    description: 'The result of `archiveProject`.',
    outputFields: (t) => ({
      project: t.field({
        type: Project,
        description: 'The archived project.',
        resolve: (p) => p.project,
      }),
    }),
  },
);

// The to-one relation, added after the types exist (client.ts imports this file).
builder.objectField(Project, 'client', (t) =>
  t.field({
    type: Client,
    description: 'The client it is for.',
    resolve: toOne(() => clientModel, 'client', 'clientId'),
  }),
);
