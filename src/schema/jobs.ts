/**
 * Background jobs in the API: the `BackgroundJob` node, the `backgroundJobs` list, and the
 * mutations that start, retry and cancel jobs. Starting a job writes its row and queues it in
 * one transaction and returns at once; follow it with `node(id:)` or the `backgroundJob`
 * subscription. Staff start and see jobs; client users do neither.
 */
import { requireRole, STAFF } from '../auth/rules.ts';
import { builder, OrderDirection } from '../builder.ts';
import type { Context } from '../context.ts';
import { Prisma } from '../db/prisma.ts';
import { badInput, notFound } from '../errors.ts';
import { cancelJob, enqueueJob, prismaSql, retryJob } from '../jobs/queue.ts';
import { MAX_GENERATED_POSTS, PLATFORMS } from '../jobs/tasks/generatePosts.ts';
import { type ListConnection, loadById, resolveList, toOne } from '../read/engine.ts';
import type { PageArgs } from '../read/keyset.ts';
import { defineModel } from '../read/model.ts';
import { PlatformEnum } from './enums.ts';
import type { payloadQuery } from './lists.ts';
import { User, userModel } from './user.ts';
import { idOf } from './validate.ts';

export const BackgroundJobStatusEnum = builder.enumType('BackgroundJobStatus', {
  values: ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const,
});

/** What the read engine reads for a job (src/read/). */
export const jobModel = defineModel({
  typename: 'BackgroundJob',
  table: 'background_jobs',
  columns: {
    kind: 'text',
    status: 'enum',
    progress: 'int',
    attempts: 'int',
    maxAttempts: 'int',
    lastError: 'text',
    result: 'json',
    startedById: 'int',
    clientId: 'int',
    createdAt: 'timestamptz',
    updatedAt: 'timestamptz',
    startedAt: 'timestamptz',
    finishedAt: 'timestamptz',
  },
  relations: { startedBy: { model: () => userModel, fk: 'started_by_id', nullable: true } },
  orders: { CREATED_AT: { column: 'created_at', type: 'timestamptz', nullable: false } },
});

export const BackgroundJob = builder.prismaNode('BackgroundJob', {
  id: { field: 'id' },
  nullable: true,
  description: 'Work done off the request path. Poll it with `node(id:)` until it is finished.',
  fields: (t) => ({
    kind: t.exposeString('kind', {
      description: 'generatePosts, processUpload, sendEmail or computeAnalytics.',
    }),
    status: t.expose('status', { type: BackgroundJobStatusEnum }),
    progress: t.exposeInt('progress', { description: 'Percent done, 0 to 100.' }),
    attempts: t.exposeInt('attempts', { description: 'Attempts started so far.' }),
    maxAttempts: t.exposeInt('maxAttempts'),
    lastError: t.exposeString('lastError', { nullable: true }),
    result: t.string({
      nullable: true,
      description: 'What the job produced, as a JSON document (set when SUCCEEDED).',
      resolve: (j) => (j.result == null ? null : JSON.stringify(j.result)),
    }),
    startedBy: t.field({
      type: User,
      nullable: true,
      resolve: toOne(() => userModel, 'startedBy', 'startedById'),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    startedAt: t.expose('startedAt', { type: 'DateTime', nullable: true }),
    finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true }),
  }),
});

const BackgroundJobConnection = builder.connectionObject({
  type: BackgroundJob,
  name: 'BackgroundJobConnection',
  fields: (t) => ({
    totalCount: t.int({ resolve: (c) => (c as unknown as ListConnection).totalCount() }),
  }),
});

const BackgroundJobFilter = builder.inputType('BackgroundJobFilter', {
  fields: (t) => ({
    status: t.field({ type: [BackgroundJobStatusEnum] }),
    kind: t.string(),
  }),
});

builder.queryField('backgroundJobs', (t) =>
  t.connection(
    {
      type: BackgroundJob,
      description: 'Jobs, newest first (staff only).',
      args: {
        filter: t.arg({ type: BackgroundJobFilter }),
        direction: t.arg({ type: OrderDirection, description: 'Default: DESC (newest first).' }),
      },
      resolve: (_root, args, ctx, info) => {
        requireRole(ctx, STAFF, 'list background jobs');
        const where: Prisma.Sql[] = [];
        const status = args.filter?.status;
        if (status?.length) {
          where.push(Prisma.sql`t.status = ANY(${status}::"BackgroundJobStatus"[])`);
        }
        if (args.filter?.kind != null) where.push(Prisma.sql`t.kind = ${args.filter.kind}`);
        return resolveList(ctx, info, args as PageArgs, {
          model: jobModel,
          name: 'backgroundJobs',
          order: { field: 'CREATED_AT', direction: args.direction ?? 'DESC' },
          where,
          // Job responses are never cached (ttl 0 for BackgroundJob).
          cacheTags: [],
        }) as never;
      },
    },
    BackgroundJobConnection,
  ),
);

/** Loads a job for the payload with the selection the client asked for under `job`. */
export async function jobPayload(
  ctx: Context,
  info: Parameters<typeof payloadQuery>[1],
  id: number,
) {
  const job = await loadById(ctx, info, jobModel, id, ['job']);
  if (!job) throw notFound('id', 'The job is gone');
  return { job };
}

const jobOutput = {
  outputFields: (t: PayloadFieldBuilder) => ({
    job: t.field({ type: BackgroundJob, resolve: (p: { job: unknown }) => p.job as never }),
  }),
};
// biome-ignore lint/suspicious/noExplicitAny: Pothos's payload field builder type is internal
type PayloadFieldBuilder = any;

const DAY_MS = 86_400_000;

builder.relayMutationField(
  'generatePosts',
  {
    inputFields: (t) => ({
      projectId: t.id({ required: true }),
      count: t.int({ required: true, description: `1 to ${MAX_GENERATED_POSTS}.` }),
      platforms: t.field({
        type: [PlatformEnum],
        description: 'Used in turn. Default: every platform.',
      }),
      from: t.field({
        type: 'DateTime',
        description: 'First post is scheduled here. Default: now.',
      }),
      to: t.field({
        type: 'DateTime',
        description:
          'Last post is scheduled here; the rest spread evenly. Default: from + 30 days.',
      }),
      titleTemplate: t.string({
        description:
          'Placeholders: {n}, {platform}, {date}, {project}. Default: "{project} post {n}".',
      }),
      bodyTemplate: t.string({ description: 'Same placeholders as titleTemplate.' }),
    }),
  },
  {
    description:
      'Starts a job that creates `count` draft posts in a project. Returns the job at once.',
    resolve: async (_root, { input }, ctx, info) => {
      const viewer = requireRole(ctx, STAFF, 'start background jobs');
      if (!Number.isInteger(input.count) || input.count < 1 || input.count > MAX_GENERATED_POSTS) {
        throw badInput(
          'input.count',
          `\`input.count\` must be between 1 and ${MAX_GENERATED_POSTS}`,
        );
      }
      const platforms = input.platforms ?? [...PLATFORMS];
      if (platforms.length === 0)
        throw badInput('input.platforms', '`input.platforms` must not be empty');
      const from = input.from ?? new Date();
      const to = input.to ?? new Date(from.getTime() + 30 * DAY_MS);
      if (to < from) throw badInput('input.to', '`input.to` must not be before `input.from`');
      const titleTemplate = (input.titleTemplate ?? '{project} post {n}').trim();
      const bodyTemplate = (
        input.bodyTemplate ?? 'Draft {n} for {platform}, planned for {date}.'
      ).trim();
      if (!titleTemplate || titleTemplate.length > 300) {
        throw badInput('input.titleTemplate', '`input.titleTemplate` must be 1 to 300 characters');
      }
      if (!bodyTemplate || bodyTemplate.length > 20_000) {
        throw badInput('input.bodyTemplate', '`input.bodyTemplate` must be 1 to 20000 characters');
      }
      const projectId = idOf('input.projectId', input.projectId, 'Project');
      const project = await ctx.prisma.project.findUnique({ where: { id: projectId } });
      if (!project) throw notFound('input.projectId', `No project with ID ${input.projectId}`);
      if (project.status === 'ARCHIVED') {
        throw badInput(
          'input.projectId',
          `Project ${input.projectId} is archived; it takes no new posts`,
        );
      }
      const id = await ctx.prisma.$transaction((tx) =>
        enqueueJob(prismaSql(tx), {
          kind: 'generatePosts',
          payload: {
            projectId,
            authorId: viewer.id,
            count: input.count,
            platforms,
            from: from.toISOString(),
            to: to.toISOString(),
            titleTemplate,
            bodyTemplate,
          },
          startedById: viewer.id,
          clientId: project.clientId,
        }),
      );
      return jobPayload(ctx, info, id);
    },
  },
  jobOutput,
);

builder.relayMutationField(
  'recomputeAnalytics',
  {
    inputFields: (t) => ({
      day: t.field({ type: 'Date', description: 'UTC day to roll up. Default: today.' }),
    }),
  },
  {
    description: 'Starts a job that recomputes the daily statistics `dashboardStats` reads.',
    resolve: async (_root, { input }, ctx, info) => {
      const viewer = requireRole(ctx, STAFF, 'start background jobs');
      const id = await ctx.prisma.$transaction((tx) =>
        enqueueJob(prismaSql(tx), {
          kind: 'computeAnalytics',
          payload: input.day ? { day: input.day.toISOString().slice(0, 10) } : {},
          startedById: viewer.id,
        }),
      );
      return jobPayload(ctx, info, id);
    },
  },
  jobOutput,
);

async function existingJob(ctx: Context, globalId: string) {
  const id = idOf('input.id', globalId, 'BackgroundJob');
  const job = await ctx.prisma.backgroundJob.findUnique({
    where: { id },
    select: { id: true, status: true },
  });
  if (!job) throw notFound('input.id', `No background job with ID ${globalId}`);
  return job;
}

builder.relayMutationField(
  'retryJob',
  { inputFields: (t) => ({ id: t.id({ required: true }) }) },
  {
    description: 'Runs a FAILED or CANCELLED job again, with a fresh attempt budget.',
    resolve: async (_root, { input }, ctx, info) => {
      requireRole(ctx, STAFF, 'retry background jobs');
      const job = await existingJob(ctx, input.id);
      const ok = await ctx.prisma.$transaction((tx) => retryJob(prismaSql(tx), job.id));
      if (!ok) {
        throw badInput(
          'input.id',
          `Only FAILED or CANCELLED jobs can be retried; this one is ${job.status}`,
        );
      }
      return jobPayload(ctx, info, job.id);
    },
  },
  jobOutput,
);

builder.relayMutationField(
  'cancelJob',
  { inputFields: (t) => ({ id: t.id({ required: true }) }) },
  {
    description:
      'Cancels a QUEUED or RUNNING job. A running job stops at its next checkpoint; work already committed stays.',
    resolve: async (_root, { input }, ctx, info) => {
      requireRole(ctx, STAFF, 'cancel background jobs');
      const job = await existingJob(ctx, input.id);
      const ok = await ctx.prisma.$transaction((tx) => cancelJob(prismaSql(tx), job.id));
      if (!ok) {
        throw badInput(
          'input.id',
          `Only QUEUED or RUNNING jobs can be cancelled; this one is ${job.status}`,
        );
      }
      return jobPayload(ctx, info, job.id);
    },
  },
  jobOutput,
);

const FINISHED = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);
const FOLLOW_INTERVAL_MS = 250;

builder.subscriptionType({});

builder.subscriptionField('backgroundJob', (t) =>
  t.field({
    type: BackgroundJob,
    description:
      'Follows a job over server-sent events: the job now, then on every change, ending when it is finished.',
    args: { id: t.arg.id({ required: true }) },
    subscribe: async function* (_root, args, ctx) {
      requireRole(ctx, STAFF, 'follow background jobs');
      const id = idOf('id', args.id, 'BackgroundJob');
      let last = '';
      for (;;) {
        const job = await ctx.prisma.backgroundJob.findUnique({ where: { id } });
        if (!job) throw notFound('id', `No background job with ID ${args.id}`);
        const stamp = `${job.status}|${job.progress}|${job.attempts}|${job.updatedAt.getTime()}`;
        if (stamp !== last) {
          last = stamp;
          yield job;
        }
        if (FINISHED.has(job.status)) return;
        await new Promise((r) => setTimeout(r, FOLLOW_INTERVAL_MS));
      }
    },
    resolve: (job) => job as never,
  }),
);
