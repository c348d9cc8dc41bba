import { canSeeClient, clientScope, requireRole, requireViewer, STAFF } from '../auth/rules.ts';
import { builder, encodeGlobalId, OrderDirection } from '../builder.ts';
import { listTags } from '../cache/tags.ts';
import { announceWrites, postState } from '../cache/writes.ts';
import type { Context } from '../context.ts';
import { Prisma } from '../db/prisma.ts';
import { badInput, forbidden, notFound } from '../errors.ts';
import type { PostStatus } from '../generated/prisma/enums.ts';
import { afterPostStatusChange } from '../jobs/notifications.ts';
import { prismaSql } from '../jobs/queue.ts';
import { type ListConnection, resolveList, toOne } from '../read/engine.ts';
import { defineModel } from '../read/model.ts';
import { Client, clientModel } from './client.ts';
import { PlatformEnum, PostStatusEnum } from './enums.ts';
import { payloadQuery } from './lists.ts';
import { Project, projectModel } from './project.ts';
import { User, userModel } from './user.ts';
import { idOf, likePattern, optionalId, tags, text, transition } from './validate.ts';

/** What the read engine reads for a post (src/read/). */
export const postModel = defineModel({
  typename: 'Post',
  table: 'posts',
  columns: {
    title: 'text',
    body: 'text',
    platform: 'enum',
    status: 'enum',
    scheduledAt: 'timestamptz',
    publishedAt: 'timestamptz',
    tags: 'text[]',
    createdAt: 'timestamptz',
    updatedAt: 'timestamptz',
    projectId: 'int',
    clientId: 'int',
    authorId: 'int',
  },
  relations: {
    project: { model: () => projectModel, fk: 'project_id', nullable: false },
    client: { model: () => clientModel, fk: 'client_id', nullable: false },
    author: { model: () => userModel, fk: 'author_id', nullable: false },
  },
  always: ['clientId'],
  orders: {
    CREATED_AT: { column: 'created_at', type: 'timestamptz', nullable: false },
    UPDATED_AT: { column: 'updated_at', type: 'timestamptz', nullable: false },
    SCHEDULED_AT: { column: 'scheduled_at', type: 'timestamptz', nullable: true },
    TITLE: { column: 'title', type: 'text', nullable: false },
  },
});

export const Post = builder.prismaNode('Post', {
  id: { field: 'id' },
  nullable: true,
  description: "A social or blog post written for a client's project.",
  fields: (t) => ({
    title: t.exposeString('title', { description: '1 to 300 characters.' }),
    body: t.exposeString('body', { description: 'The text, 1 to 20000 characters.' }),
    platform: t.expose('platform', { type: PlatformEnum, description: 'Where it is published.' }),
    status: t.expose('status', { type: PostStatusEnum, description: 'Where it stands.' }),
    scheduledAt: t.expose('scheduledAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When it is planned to go out; null when not scheduled.',
    }),
    publishedAt: t.expose('publishedAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When it was set PUBLISHED; null before.',
    }),
    tags: t.exposeStringList('tags', {
      description: 'Lower-cased, without duplicates; at most 30 of 1 to 50 characters.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was created.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'Last change.' }),
  }),
});

export const PostConnection = builder.connectionObject(
  {
    type: Post,
    name: 'PostConnection',
    description: 'A page of posts.',
    fields: (t) => ({
      totalCount: t.int({
        description:
          'Rows matching the filter (all pages). Costs a count query; ask only when shown.',
        resolve: (c) => (c as unknown as ListConnection).totalCount(),
      }),
    }),
  },
  { description: 'A post in a page, with its cursor.' },
);

export const PostOrderField = builder.enumType('PostOrderField', {
  description: 'What posts are sorted by; the ID breaks ties.',
  values: {
    CREATED_AT: { description: 'By creation time.' },
    UPDATED_AT: { description: 'By last change.' },
    SCHEDULED_AT: { description: 'By `scheduledAt`; unscheduled posts sort as the latest.' },
    TITLE: { description: 'By title.' },
  } as const,
});

export const PostOrder = builder.inputType('PostOrder', {
  description: 'Sort order of a post list.',
  fields: (t) => ({
    field: t.field({ type: PostOrderField, required: true, description: 'Sort key.' }),
    direction: t.field({ type: OrderDirection, required: true, description: 'ASC or DESC.' }),
  }),
});

export const PostFilter = builder.inputType('PostFilter', {
  description: 'Conditions a post must meet, all of them (omitted ones: any).',
  fields: (t) => ({
    status: t.field({ type: [PostStatusEnum], description: 'Any of these statuses.' }),
    platform: t.field({ type: [PlatformEnum], description: 'Any of these platforms.' }),
    projectId: t.id({ description: "Only this project's posts (a Project ID)." }),
    clientId: t.id({ description: "Only this client's posts (a Client ID)." }),
    authorId: t.id({ description: 'Only posts written by this user (a User ID).' }),
    scheduledAfter: t.field({
      type: 'DateTime',
      description: 'Scheduled at or after this instant (inclusive); excludes unscheduled posts.',
    }),
    scheduledBefore: t.field({
      type: 'DateTime',
      description: 'Scheduled before this instant (exclusive); excludes unscheduled posts.',
    }),
    search: t.string({
      description:
        'Case-insensitive text in the title or body, taken literally (no wildcards); at most 200 characters.',
    }),
  }),
});

type PostFilterInput = typeof PostFilter.$inferInput;

/** `= $1` for one value keeps the (filter, sort) index usable for ordered scans. */
function anyOf(column: string, values: readonly string[], type: string): Prisma.Sql {
  const col = Prisma.raw(`t.${column}`);
  if (values.length === 1) return Prisma.sql`${col} = ${values[0]}::${Prisma.raw(`"${type}"`)}`;
  return Prisma.sql`${col} = ANY(${values}::${Prisma.raw(`"${type}"`)}[])`;
}

/** SQL conditions (table alias `t`) for a filter, with the viewer's client scope applied. */
export function postWhere(ctx: Context, filter: PostFilterInput | null | undefined): Prisma.Sql[] {
  const viewer = requireViewer(ctx);
  const where: Prisma.Sql[] = [];
  const scope = clientScope(viewer);
  if (scope !== null) where.push(Prisma.sql`t.client_id = ${scope}`);
  if (!filter) return where;
  if (filter.status?.length) where.push(anyOf('status', filter.status, 'PostStatus'));
  if (filter.platform?.length) where.push(anyOf('platform', filter.platform, 'Platform'));
  const projectId = optionalId('filter.projectId', filter.projectId, 'Project');
  if (projectId !== undefined) where.push(Prisma.sql`t.project_id = ${projectId}`);
  const clientId = optionalId('filter.clientId', filter.clientId, 'Client');
  if (clientId !== undefined) where.push(Prisma.sql`t.client_id = ${clientId}`);
  const authorId = optionalId('filter.authorId', filter.authorId, 'User');
  if (authorId !== undefined) where.push(Prisma.sql`t.author_id = ${authorId}`);
  if (filter.scheduledAfter) where.push(Prisma.sql`t.scheduled_at >= ${filter.scheduledAfter}`);
  if (filter.scheduledBefore) where.push(Prisma.sql`t.scheduled_at < ${filter.scheduledBefore}`);
  if (filter.search != null) {
    const search = filter.search.trim();
    if (search.length > 200) throw badInput('filter.search', '`filter.search` is too long');
    if (search) {
      const p = likePattern(search);
      where.push(Prisma.sql`(t.title ILIKE ${p} OR t.body ILIKE ${p})`);
    }
  }
  return where;
}

export const postListArgs = builder.args((t) => ({
  filter: t.field({ type: PostFilter, description: 'Default: every post.' }),
  orderBy: t.field({
    type: PostOrder,
    description: 'Default: CREATED_AT DESC. The id breaks ties.',
  }),
  offset: t.int({
    description:
      'Rows to skip after the cursor, at most 1000 (for "go to page N"). Use cursors beyond that.',
  }),
}));

export function resolvePosts(
  ctx: Context,
  info: Parameters<typeof resolveList>[1],
  args: {
    first?: number | null;
    last?: number | null;
    after?: string | null;
    before?: string | null;
    offset?: number | null;
    filter?: PostFilterInput | null;
    orderBy?: { field: string; direction: 'ASC' | 'DESC' } | null;
  },
  extraWhere: Prisma.Sql[] = [],
  parent?: { column: string; id: number },
) {
  return resolveList(ctx, info, args, {
    model: postModel,
    name: parent ? `${parent.column}.posts` : 'posts',
    order: args.orderBy ?? { field: 'CREATED_AT', direction: 'DESC' },
    where: [...postWhere(ctx, args.filter), ...extraWhere],
    ...(parent ? { parent } : {}),
    cacheTags: listTags('Post', {
      c:
        clientScope(requireViewer(ctx)) ??
        optionalId('filter.clientId', args.filter?.clientId, 'Client'),
      pr:
        parent?.column === 'project_id'
          ? parent.id
          : optionalId('filter.projectId', args.filter?.projectId, 'Project'),
      s: args.filter?.status ?? [],
      p: args.filter?.platform ?? [],
      // Filters that are not partition dimensions can change with any write in the partition.
      o:
        args.filter?.search?.trim() ||
        args.filter?.scheduledAfter ||
        args.filter?.scheduledBefore ||
        args.filter?.authorId
          ? '*'
          : (args.orderBy?.field ?? 'CREATED_AT'),
    }),
  });
}

builder.queryField('posts', (t) =>
  t.connection(
    {
      type: Post,
      description: "Posts, newest first by default. CLIENT users see only their own client's.",
      args: postListArgs,
      resolve: (_root, args, ctx, info) => resolvePosts(ctx, info, args) as never,
    },
    PostConnection,
  ),
);

// ---- mutations ----------------------------------------------------------------------

const NEXT_STATUS: Record<PostStatus, readonly PostStatus[]> = {
  DRAFT: ['IN_REVIEW', 'ARCHIVED'],
  IN_REVIEW: ['DRAFT', 'APPROVED', 'ARCHIVED'],
  APPROVED: ['IN_REVIEW', 'DRAFT', 'SCHEDULED', 'PUBLISHED', 'ARCHIVED'],
  SCHEDULED: ['APPROVED', 'PUBLISHED', 'ARCHIVED'],
  PUBLISHED: ['ARCHIVED'],
  ARCHIVED: ['DRAFT'],
};

async function visiblePost(ctx: Context, field: string, globalId: string) {
  const viewer = requireViewer(ctx);
  const id = idOf(field, globalId, 'Post');
  const post = await ctx.prisma.post.findUnique({ where: { id } });
  if (!post || !canSeeClient(viewer, post.clientId)) {
    throw notFound(field, `No post with ID ${globalId}`);
  }
  return post;
}

async function projectFor(ctx: Context, field: string, globalId: string) {
  const id = idOf(field, globalId, 'Project');
  const project = await ctx.prisma.project.findUnique({ where: { id } });
  if (!project) throw notFound(field, `No project with ID ${globalId}`);
  if (project.status === 'ARCHIVED') {
    throw badInput(field, `Project ${globalId} is archived; it takes no new posts`);
  }
  return project;
}

builder.relayMutationField(
  'createPost',
  {
    description: 'A new post. Text is trimmed before it is checked.',
    inputFields: (t) => ({
      projectId: t.id({
        required: true,
        description: 'The project it is for; NOT_FOUND if unknown, BAD_USER_INPUT if archived.',
      }),
      title: t.string({ required: true, description: '1 to 300 characters.' }),
      body: t.string({ required: true, description: '1 to 20000 characters.' }),
      platform: t.field({
        type: PlatformEnum,
        required: true,
        description: 'Where it will be published.',
      }),
      scheduledAt: t.field({ type: 'DateTime', description: 'When it is planned to go out.' }),
      tags: t.stringList({
        description:
          'At most 30, each 1 to 50 characters; stored lower-cased without duplicates. Default: none.',
      }),
    }),
  },
  {
    description:
      'Creates a DRAFT post with the caller as author. Staff only (ADMIN, MANAGER, EDITOR).',
    resolve: async (_root, { input }, ctx, info) => {
      const viewer = requireRole(ctx, STAFF, 'create posts');
      const title = text('input.title', input.title, { max: 300 });
      const body = text('input.body', input.body, { max: 20_000 });
      const postTags = tags('input.tags', input.tags ?? []);
      const project = await projectFor(ctx, 'input.projectId', input.projectId);
      const post = await ctx.prisma.post.create({
        ...payloadQuery(ctx, info, 'post'),
        data: {
          projectId: project.id,
          clientId: project.clientId,
          authorId: viewer.id,
          title,
          body,
          platform: input.platform,
          scheduledAt: input.scheduledAt ?? null,
          tags: postTags,
        },
      });
      await announceWrites(ctx, [{ typename: 'Post', id: post.id, states: [postState(post)] }]);
      return { post };
    },
  },
  {
    description: 'The result of `createPost`.',
    outputFields: (t) => ({
      post: t.field({ type: Post, description: 'The new post.', resolve: (p) => p.post }),
    }),
  },
);

builder.relayMutationField(
  'updatePost',
  {
    description:
      'Changes to one post; omitted fields stay as they are. A CLIENT user may send only `id` and `status: APPROVED`.',
    inputFields: (t) => ({
      id: t.id({ required: true, description: 'The post to change (NOT_FOUND if unknown).' }),
      projectId: t.id({
        description:
          'Move the post to another project (same or other client); not to an archived one.',
      }),
      title: t.string({ description: '1 to 300 characters.' }),
      body: t.string({ description: '1 to 20000 characters.' }),
      platform: t.field({ type: PlatformEnum, description: 'Where it will be published.' }),
      status: t.field({
        type: PostStatusEnum,
        description:
          'New status; only the moves listed on PostStatus are allowed. SCHEDULED needs a `scheduledAt`.',
      }),
      scheduledAt: t.field({ type: 'DateTime', description: 'Planned time; null clears it.' }),
      tags: t.stringList({
        description: 'Replaces the tags: at most 30, each 1 to 50 characters.',
      }),
    }),
  },
  {
    description:
      'Changes a post. Staff may change anything; a CLIENT user may only approve a post that is IN_REVIEW (FORBIDDEN otherwise). Approving e-mails the author.',
    resolve: async (_root, { input }, ctx, info) => {
      const viewer = requireViewer(ctx);
      const post = await visiblePost(ctx, 'input.id', input.id);
      const data: Prisma.PostUncheckedUpdateInput = {};
      if (viewer.role === 'CLIENT') {
        const others = Object.entries(input).filter(
          ([k, v]) => k !== 'id' && k !== 'status' && v !== undefined,
        );
        if (others.length || input.status !== 'APPROVED' || post.status !== 'IN_REVIEW') {
          throw forbidden('Client users may only approve posts that are in review');
        }
      }
      if (input.title != null) data.title = text('input.title', input.title, { max: 300 });
      if (input.body != null) data.body = text('input.body', input.body, { max: 20_000 });
      if (input.platform != null) data.platform = input.platform;
      if (input.tags != null) data.tags = tags('input.tags', input.tags);
      if (input.scheduledAt !== undefined) data.scheduledAt = input.scheduledAt;
      if (input.projectId != null) {
        const project = await projectFor(ctx, 'input.projectId', input.projectId);
        data.projectId = project.id;
        data.clientId = project.clientId;
      }
      if (input.status != null && input.status !== post.status) {
        transition('input.status', post.status, input.status, NEXT_STATUS);
        data.status = input.status;
        const scheduledAt = input.scheduledAt !== undefined ? input.scheduledAt : post.scheduledAt;
        if (input.status === 'SCHEDULED' && !scheduledAt) {
          throw badInput('input.scheduledAt', '`input.scheduledAt` is required to schedule a post');
        }
        if (input.status === 'PUBLISHED') data.publishedAt = new Date();
      }
      const write = { ...payloadQuery(ctx, info, 'post'), where: { id: post.id }, data };
      // A status change queues its follow-up jobs (notification, analytics) in the same
      // transaction: no job without the change, no change without its job.
      const status = data.status as PostStatus | undefined;
      const updated = status
        ? await ctx.prisma.$transaction(async (tx) => {
            const row = await tx.post.update(write);
            const clientId = (data.clientId as number | undefined) ?? post.clientId;
            await afterPostStatusChange(
              prismaSql(tx),
              ctx.config,
              { id: post.id, clientId, status },
              viewer.id,
            );
            return row;
          })
        : await ctx.prisma.post.update(write);
      // Sort keys whose value moved (UPDATED_AT always does): lists ordered by other keys
      // keep their order, so the cache can keep them.
      const orders = [
        ...(updated.title !== post.title ? ['TITLE'] : []),
        ...(updated.scheduledAt?.getTime() !== post.scheduledAt?.getTime() ? ['SCHEDULED_AT'] : []),
      ];
      await announceWrites(ctx, [
        {
          typename: 'Post',
          id: post.id,
          states: [postState(post), postState(updated)],
          orders,
        },
      ]);
      return { post: updated };
    },
  },
  {
    description: 'The result of `updatePost`.',
    outputFields: (t) => ({
      post: t.field({ type: Post, description: 'The post as changed.', resolve: (p) => p.post }),
    }),
  },
);

builder.relayMutationField(
  'deletePost',
  {
    description: 'The post to delete.',
    inputFields: (t) => ({
      id: t.id({ required: true, description: 'The post to delete (NOT_FOUND if unknown).' }),
    }),
  },
  {
    description: 'Deletes a post for good. Staff only.',
    resolve: async (_root, { input }, ctx) => {
      requireRole(ctx, STAFF, 'delete posts');
      const post = await visiblePost(ctx, 'input.id', input.id);
      await ctx.prisma.post.delete({ where: { id: post.id } });
      await announceWrites(ctx, [{ typename: 'Post', id: post.id, states: [postState(post)] }]);
      return { id: post.id, projectId: post.projectId, clientId: post.clientId };
    },
  },
  {
    description: 'The result of `deletePost`.',
    outputFields: (t) => ({
      deletedPostId: t.id({
        description: 'Global ID of the deleted post; evict it from client caches.',
        resolve: (p) => encodeGlobalId('Post', p.id),
      }),
    }),
  },
);

// To-one relations, added after the types exist (the files import each other). Loaded with the
// post by the read engine; a post from elsewhere (a mutation's result) loads them by key.
builder.objectFields(Post, (t) => ({
  project: t.field({
    type: Project,
    description: 'The project it belongs to.',
    resolve: toOne(() => projectModel, 'project', 'projectId'),
  }),
  client: t.field({
    type: Client,
    description: "The project's client.",
    resolve: toOne(() => clientModel, 'client', 'clientId'),
  }),
  author: t.field({
    type: User,
    description: 'The staff member who created it.',
    resolve: toOne(() => userModel, 'author', 'authorId'),
  }),
}));
