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
  description: 'Where a job stands. SUCCEEDED, FAILED and CANCELLED are final.',
  values: {
    QUEUED: { description: 'Waiting for a runner, or for its next attempt after a failure.' },
    RUNNING: { description: 'A runner is working on it; see `progress`.' },
    SUCCEEDED: { description: 'Done; `result` holds what it produced.' },
    FAILED: {
      description: 'Gave up after `maxAttempts`; `lastError` says why. `retryJob` runs it again.',
    },
    CANCELLED: { description: 'Stopped by `cancelJob`. `retryJob` runs it again.' },
  } as const,
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
    status: t.expose('status', { type: BackgroundJobStatusEnum, description: 'Where it stands.' }),
    progress: t.exposeInt('progress', { description: 'Percent done, 0 to 100.' }),
    attempts: t.exposeInt('attempts', { description: 'Attempts started so far.' }),
    maxAttempts: t.exposeInt('maxAttempts', {
      description: 'Attempts allowed before it is FAILED (3 to 8, by kind).',
    }),
    lastError: t.exposeString('lastError', {
      nullable: true,
      description: "The last failed attempt's error message; null if none failed.",
    }),
    result: t.string({
      nullable: true,
      description: 'What the job produced, as a JSON document (set when SUCCEEDED).',
      resolve: (j) => (j.result == null ? null : JSON.stringify(j.result)),
    }),
    startedBy: t.field({
      type: User,
      nullable: true,
      description: 'The user whose action started it; null when Postline started it on its own.',
      resolve: toOne(() => userModel, 'startedBy', 'startedById'),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was queued.' }),
    updatedAt: t.expose('updatedAt', {
      type: 'DateTime',
      description: 'Last change.',
    }),
    startedAt: t.expose('startedAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When its first attempt started; null while QUEUED for the first time.',
    }),
    finishedAt: t.expose('finishedAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When it reached SUCCEEDED, FAILED or CANCELLED; null before.',
    }),
  }),
});

const BackgroundJobConnection = builder.connectionObject(
  {
    type: BackgroundJob,
    name: 'BackgroundJobConnection',
    description: 'A page of background jobs.',
    fields: (t) => ({
      totalCount: t.int({
        description:
          'Jobs matching the filter (all pages). Costs a count query; select it only when shown.',
        resolve: (c) => (c as unknown as ListConnection).totalCount(),
      }),
    }),
  },
  { description: 'A background job in a page, with its cursor.' },
);

const BackgroundJobFilter = builder.inputType('BackgroundJobFilter', {
  description: 'Conditions a job must meet, all of them (omitted ones: any).',
  fields: (t) => ({
    status: t.field({ type: [BackgroundJobStatusEnum], description: 'Any of these statuses.' }),
    kind: t.string({
      description: 'Exactly this kind, e.g. `sendEmail` (see `BackgroundJob.kind`).',
    }),
  }),
});

builder.queryField('backgroundJobs', (t) =>
  t.connection(
    {
      type: BackgroundJob,
      description:
        'Jobs, newest first by default. Staff only (FORBIDDEN for CLIENT users); never served from the response cache.',
      args: {
        filter: t.arg({ type: BackgroundJobFilter, description: 'Default: every job.' }),
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

const jobOutput = (mutation: string) => ({
  description: `The result of \`${mutation}\`.`,
  outputFields: (t: PayloadFieldBuilder) => ({
    job: t.field({
      type: BackgroundJob,
      description: 'The job; follow it with `node(id:)` or the `backgroundJob` subscription.',
      resolve: (p: { job: unknown }) => p.job as never,
    }),
  }),
});
// biome-ignore lint/suspicious/noExplicitAny: Pothos's payload field builder type is internal
type PayloadFieldBuilder = any;

const DAY_MS = 86_400_000;

builder.relayMutationField(
  'generatePosts',
  {
    description: 'What to generate. Posts are scheduled evenly between `from` and `to`.',
    inputFields: (t) => ({
      projectId: t.id({
        required: true,
        description: 'The project to fill; NOT_FOUND if unknown, BAD_USER_INPUT if archived.',
      }),
      count: t.int({
        required: true,
        description: `Posts to create, 1 to ${MAX_GENERATED_POSTS}.`,
      }),
      platforms: t.field({
        type: [PlatformEnum],
        description: 'Used in turn; must not be empty. Default: every platform.',
      }),
      from: t.field({
        type: 'DateTime',
        description: 'First post is scheduled here. Default: now.',
      }),
      to: t.field({
        type: 'DateTime',
        description:
          'Last post is scheduled here; the rest spread evenly. Not before `from`. Default: from + 30 days.',
      }),
      titleTemplate: t.string({
        description:
          'Up to 300 characters. Placeholders: {n}, {platform}, {date}, {project}. Default: "{project} post {n}".',
      }),
      bodyTemplate: t.string({
        description:
          'Up to 20000 characters, same placeholders as titleTemplate. Default: "Draft {n} for {platform}, planned for {date}."',
      }),
    }),
  },
  {
    description:
      'Starts a job that creates `count` DRAFT posts in a project, authored by the caller. Returns the job at once. Staff only.',
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
  jobOutput('generatePosts'),
);

builder.relayMutationField(
  'recomputeAnalytics',
  {
    description: 'Which day to recompute.',
    inputFields: (t) => ({
      day: t.field({ type: 'Date', description: 'UTC day to roll up. Default: today.' }),
    }),
  },
  {
    description:
      'Starts a job that recomputes the daily statistics `dashboardStats` reads. Returns the job at once. Staff only.',
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
  jobOutput('recomputeAnalytics'),
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
  {
    description: 'The job to retry.',
    inputFields: (t) => ({
      id: t.id({ required: true, description: 'A BackgroundJob ID (NOT_FOUND if unknown).' }),
    }),
  },
  {
    description:
      'Runs a FAILED or CANCELLED job again, with a fresh attempt budget; another status is BAD_USER_INPUT. Staff only.',
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
  jobOutput('retryJob'),
);

builder.relayMutationField(
  'cancelJob',
  {
    description: 'The job to cancel.',
    inputFields: (t) => ({
      id: t.id({ required: true, description: 'A BackgroundJob ID (NOT_FOUND if unknown).' }),
    }),
  },
  {
    description:
      'Cancels a QUEUED or RUNNING job; another status is BAD_USER_INPUT. A running job stops at its next checkpoint; work already committed stays. Staff only.',
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
  jobOutput('cancelJob'),
);

const FINISHED = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);
const FOLLOW_INTERVAL_MS = 250;

builder.subscriptionType({
  description:
    'Live updates over server-sent events (graphql-sse) or multipart HTTP (Apollo). Same sign-in and roles as queries.',
});

builder.subscriptionField('backgroundJob', (t) =>
  t.field({
    type: BackgroundJob,
    description:
      'Follows a job: the job now, then on every change (checked every 250 ms), ending when it is finished. Staff only.',
    args: {
      id: t.arg.id({ required: true, description: 'A BackgroundJob ID (NOT_FOUND if unknown).' }),
    },
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
