import { canSeeClient, clientScope, requireRole, requireViewer, STAFF } from '../auth/rules.ts';
import { builder, encodeGlobalId, OrderDirection } from '../builder.ts';
import { listTags } from '../cache/tags.ts';
import { announceWrites, deliverableState } from '../cache/writes.ts';
import type { Context } from '../context.ts';
import { Prisma } from '../db/prisma.ts';
import { badInput, forbidden, notFound } from '../errors.ts';
import type { DeliverableStatus } from '../generated/prisma/enums.ts';
import { afterDeliverableStatusChange } from '../jobs/notifications.ts';
import { prismaSql } from '../jobs/queue.ts';
import { type ListConnection, resolveList, toOne } from '../read/engine.ts';
import type { PageArgs } from '../read/keyset.ts';
import { defineModel } from '../read/model.ts';
import { DeliverableStatusEnum } from './enums.ts';
import { payloadQuery } from './lists.ts';
import { Project, projectModel } from './project.ts';
import { User, userModel } from './user.ts';
import { idOf, optionalId, text, transition } from './validate.ts';

/** What the read engine reads for a deliverable (src/read/). */
export const deliverableModel = defineModel({
  typename: 'Deliverable',
  table: 'deliverables',
  columns: {
    title: 'text',
    kind: 'text',
    status: 'enum',
    dueDate: 'date',
    createdAt: 'timestamptz',
    updatedAt: 'timestamptz',
    projectId: 'int',
    clientId: 'int',
    assigneeId: 'int',
  },
  relations: {
    project: { model: () => projectModel, fk: 'project_id', nullable: false },
    assignee: { model: () => userModel, fk: 'assignee_id', nullable: true },
  },
  always: ['clientId'],
  orders: {
    DUE_DATE: { column: 'due_date', type: 'date', nullable: true },
    CREATED_AT: { column: 'created_at', type: 'timestamptz', nullable: false },
  },
});

export const Deliverable = builder.prismaNode('Deliverable', {
  id: { field: 'id' },
  nullable: true,
  description: 'Something the agency owes a client within a project.',
  fields: (t) => ({
    title: t.exposeString('title', { description: '1 to 300 characters.' }),
    kind: t.exposeString('kind', {
      description: 'Free text naming what it is, 1 to 100 characters (e.g. "report").',
    }),
    status: t.expose('status', { type: DeliverableStatusEnum, description: 'Where it stands.' }),
    dueDate: t.expose('dueDate', { type: 'Date', nullable: true, description: 'When it is due.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was created.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'Last change.' }),
  }),
});

export const DeliverableConnection = builder.connectionObject(
  {
    type: Deliverable,
    name: 'DeliverableConnection',
    description: 'A page of deliverables.',
    fields: (t) => ({
      totalCount: t.int({
        description:
          'Deliverables matching the filter (all pages). Costs a count query; select it only when shown.',
        resolve: (c) => (c as unknown as ListConnection).totalCount(),
      }),
    }),
  },
  { description: 'A deliverable in a page, with its cursor.' },
);

const DeliverableOrderField = builder.enumType('DeliverableOrderField', {
  description: 'What deliverables are sorted by; the ID breaks ties.',
  values: {
    DUE_DATE: { description: 'By due date; those without one sort as the latest.' },
    CREATED_AT: { description: 'By creation time.' },
  } as const,
});
const DeliverableOrder = builder.inputType('DeliverableOrder', {
  description: 'Sort order of a deliverable list.',
  fields: (t) => ({
    field: t.field({ type: DeliverableOrderField, required: true, description: 'Sort key.' }),
    direction: t.field({ type: OrderDirection, required: true, description: 'ASC or DESC.' }),
  }),
});
const DeliverableFilter = builder.inputType('DeliverableFilter', {
  description: 'Conditions a deliverable must meet, all of them (omitted ones: any).',
  fields: (t) => ({
    projectId: t.id({ description: "Only this project's deliverables (a Project ID)." }),
    status: t.field({ type: [DeliverableStatusEnum], description: 'Any of these statuses.' }),
    assigneeId: t.id({ description: 'Only those assigned to this user (a User ID).' }),
    dueBefore: t.field({
      type: 'Date',
      description: 'Due strictly before this date; excludes those without a due date.',
    }),
  }),
});

export const deliverableListArgs = builder.args((t) => ({
  filter: t.field({ type: DeliverableFilter, description: 'Default: every deliverable.' }),
  orderBy: t.field({ type: DeliverableOrder, description: 'Default: DUE_DATE ASC.' }),
  offset: t.int({
    description:
      'Rows to skip after the cursor, 0 to 1000 (BAD_USER_INPUT beyond: page with cursors).',
  }),
}));

export function resolveDeliverables(
  ctx: Context,
  info: Parameters<typeof resolveList>[1],
  args: PageArgs & {
    filter?: typeof DeliverableFilter.$inferInput | null;
    orderBy?: { field: string; direction: 'ASC' | 'DESC' } | null;
  },
  parent?: { column: string; id: number },
) {
  const viewer = requireViewer(ctx);
  const where: Prisma.Sql[] = [];
  const scope = clientScope(viewer);
  if (scope !== null) where.push(Prisma.sql`t.client_id = ${scope}`);
  const f = args.filter;
  const projectId = optionalId('filter.projectId', f?.projectId, 'Project');
  if (projectId !== undefined) where.push(Prisma.sql`t.project_id = ${projectId}`);
  const assigneeId = optionalId('filter.assigneeId', f?.assigneeId, 'User');
  if (assigneeId !== undefined) where.push(Prisma.sql`t.assignee_id = ${assigneeId}`);
  if (f?.status?.length === 1)
    where.push(Prisma.sql`t.status = ${f.status[0]}::"DeliverableStatus"`);
  else if (f?.status?.length)
    where.push(Prisma.sql`t.status = ANY(${f.status}::"DeliverableStatus"[])`);
  if (f?.dueBefore) where.push(Prisma.sql`t.due_date < ${f.dueBefore}::date`);
  return resolveList(ctx, info, args, {
    model: deliverableModel,
    name: parent ? `${parent.column}.deliverables` : 'deliverables',
    order: args.orderBy ?? { field: 'DUE_DATE', direction: 'ASC' },
    where,
    ...(parent ? { parent } : {}),
    cacheTags: listTags('Deliverable', {
      c: scope,
      pr: parent?.column === 'project_id' ? parent.id : projectId,
      s: f?.status ?? [],
    }),
  });
}

builder.queryField('deliverables', (t) =>
  t.connection(
    {
      type: Deliverable,
      description:
        "Deliverables, soonest due first by default. CLIENT users see only their own client's.",
      args: deliverableListArgs,
      resolve: (_root, args, ctx, info) => resolveDeliverables(ctx, info, args) as never,
    },
    DeliverableConnection,
  ),
);

// ---- mutations ----------------------------------------------------------------------

const NEXT_STATUS: Record<DeliverableStatus, readonly DeliverableStatus[]> = {
  TODO: ['IN_PROGRESS'],
  IN_PROGRESS: ['TODO', 'IN_REVIEW'],
  IN_REVIEW: ['IN_PROGRESS', 'APPROVED'],
  APPROVED: ['IN_REVIEW', 'DELIVERED'],
  DELIVERED: [],
};

async function visibleDeliverable(ctx: Context, globalId: string) {
  const viewer = requireViewer(ctx);
  const row = await ctx.prisma.deliverable.findUnique({
    where: { id: idOf('input.id', globalId, 'Deliverable') },
  });
  if (!row || !canSeeClient(viewer, row.clientId)) {
    throw notFound('input.id', `No deliverable with ID ${globalId}`);
  }
  return row;
}

async function assigneeFor(ctx: Context, globalId: string | null | undefined) {
  if (globalId == null) return globalId;
  const id = idOf('input.assigneeId', globalId, 'User');
  const user = await ctx.prisma.user.findUnique({ where: { id } });
  if (!user) throw notFound('input.assigneeId', `No user with ID ${globalId}`);
  if (user.role === 'CLIENT') {
    throw badInput('input.assigneeId', '`input.assigneeId` must be an agency staff member');
  }
  return id;
}

builder.relayMutationField(
  'createDeliverable',
  {
    description: 'A new deliverable. Text is trimmed before it is checked.',
    inputFields: (t) => ({
      projectId: t.id({
        required: true,
        description: 'The project it belongs to (NOT_FOUND if unknown).',
      }),
      title: t.string({ required: true, description: '1 to 300 characters.' }),
      kind: t.string({ required: true, description: 'What it is, 1 to 100 characters.' }),
      dueDate: t.field({ type: 'Date', description: 'When it is due.' }),
      assigneeId: t.id({
        description: 'A staff user to assign (a CLIENT user is BAD_USER_INPUT). Default: nobody.',
      }),
    }),
  },
  {
    description: 'Creates a TODO deliverable. Staff only (ADMIN, MANAGER, EDITOR).',
    resolve: async (_root, { input }, ctx, info) => {
      requireRole(ctx, STAFF, 'create deliverables');
      const title = text('input.title', input.title, { max: 300 });
      const kind = text('input.kind', input.kind, { max: 100 });
      const projectId = idOf('input.projectId', input.projectId, 'Project');
      const project = await ctx.prisma.project.findUnique({ where: { id: projectId } });
      if (!project) throw notFound('input.projectId', `No project with ID ${input.projectId}`);
      const assigneeId = await assigneeFor(ctx, input.assigneeId);
      const deliverable = await ctx.prisma.deliverable.create({
        ...payloadQuery(ctx, info, 'deliverable'),
        data: {
          projectId,
          clientId: project.clientId,
          title,
          kind,
          dueDate: input.dueDate ?? null,
          assigneeId: assigneeId ?? null,
        },
      });
      await announceWrites(ctx, [
        { typename: 'Deliverable', id: deliverable.id, states: [deliverableState(deliverable)] },
      ]);
      return { deliverable };
    },
  },
  {
    description: 'The result of `createDeliverable`.',
    outputFields: (t) => ({
      deliverable: t.field({
        type: Deliverable,
        description: 'The new deliverable.',
        resolve: (p) => p.deliverable,
      }),
    }),
  },
);

builder.relayMutationField(
  'updateDeliverable',
  {
    description:
      'Changes to one deliverable; omitted fields stay as they are. A CLIENT user may send only `id` and `status: APPROVED`.',
    inputFields: (t) => ({
      id: t.id({
        required: true,
        description: 'The deliverable to change (NOT_FOUND if unknown).',
      }),
      title: t.string({ description: '1 to 300 characters.' }),
      kind: t.string({ description: '1 to 100 characters.' }),
      status: t.field({
        type: DeliverableStatusEnum,
        description: 'New status; only the moves listed on DeliverableStatus are allowed.',
      }),
      dueDate: t.field({ type: 'Date', description: 'When it is due; null clears it.' }),
      assigneeId: t.id({ description: 'A staff user to assign; null unassigns.' }),
    }),
  },
  {
    description:
      "Changes a deliverable. Staff may change anything; a CLIENT user may only approve one that is IN_REVIEW (FORBIDDEN otherwise). Moving to IN_REVIEW e-mails the client's users.",
    resolve: async (_root, { input }, ctx, info) => {
      const viewer = requireViewer(ctx);
      const existing = await visibleDeliverable(ctx, input.id);
      if (viewer.role === 'CLIENT') {
        const others = Object.entries(input).filter(
          ([k, v]) => k !== 'id' && k !== 'status' && v !== undefined,
        );
        if (others.length || input.status !== 'APPROVED' || existing.status !== 'IN_REVIEW') {
          throw forbidden('Client users may only approve deliverables that are in review');
        }
      }
      const data: Prisma.DeliverableUncheckedUpdateInput = {};
      if (input.title != null) data.title = text('input.title', input.title, { max: 300 });
      if (input.kind != null) data.kind = text('input.kind', input.kind, { max: 100 });
      if (input.dueDate !== undefined) data.dueDate = input.dueDate;
      if (input.assigneeId !== undefined)
        data.assigneeId = await assigneeFor(ctx, input.assigneeId);
      if (input.status != null) {
        transition('input.status', existing.status, input.status, NEXT_STATUS);
        data.status = input.status;
      }
      const write = { ...payloadQuery(ctx, info, 'deliverable'), where: { id: existing.id }, data };
      // Moving to IN_REVIEW queues the client's notification in the same transaction.
      const deliverable =
        data.status === 'IN_REVIEW'
          ? await ctx.prisma.$transaction(async (tx) => {
              const row = await tx.deliverable.update(write);
              await afterDeliverableStatusChange(
                prismaSql(tx),
                { id: existing.id, clientId: existing.clientId, status: 'IN_REVIEW' },
                viewer.id,
              );
              return row;
            })
          : await ctx.prisma.deliverable.update(write);
      await announceWrites(ctx, [
        {
          typename: 'Deliverable',
          id: deliverable.id,
          states: [deliverableState(existing), deliverableState(deliverable)],
        },
      ]);
      return { deliverable };
    },
  },
  {
    description: 'The result of `updateDeliverable`.',
    outputFields: (t) => ({
      deliverable: t.field({
        type: Deliverable,
        description: 'The deliverable as changed.',
        resolve: (p) => p.deliverable,
      }),
    }),
  },
);

builder.relayMutationField(
  'deleteDeliverable',
  {
    description: 'The deliverable to delete.',
    inputFields: (t) => ({
      id: t.id({
        required: true,
        description: 'The deliverable to delete (NOT_FOUND if unknown).',
      }),
    }),
  },
  {
    description: 'Deletes a deliverable for good. Staff only.',
    resolve: async (_root, { input }, ctx) => {
      requireRole(ctx, STAFF, 'delete deliverables');
      const existing = await visibleDeliverable(ctx, input.id);
      await ctx.prisma.deliverable.delete({ where: { id: existing.id } });
      await announceWrites(ctx, [
        { typename: 'Deliverable', id: existing.id, states: [deliverableState(existing)] },
      ]);
      return existing;
    },
  },
  {
    description: 'The result of `deleteDeliverable`.',
    outputFields: (t) => ({
      deletedDeliverableId: t.id({
        description: 'Global ID of the deleted deliverable; evict it from client caches.',
        resolve: (d) => encodeGlobalId('Deliverable', d.id),
      }),
    }),
  },
);

// To-one relations, added after the types exist (project.ts imports this file).
builder.objectFields(Deliverable, (t) => ({
  project: t.field({
    type: Project,
    description: 'The project it belongs to.',
    resolve: toOne(() => projectModel, 'project', 'projectId'),
  }),
  assignee: t.field({
    type: User,
    nullable: true,
    description: 'The staff member working on it; null when unassigned.',
    resolve: toOne(() => userModel, 'assignee', 'assigneeId'),
  }),
}));
