/**
 * File uploads: `uploadAsset(file: Upload!, postId | deliverableId)` takes a GraphQL multipart
 * request, streams the file to storage (local or S3, src/jobs/storage.ts), records the asset and queues `processUpload` in one
 * transaction, and returns the job at once. Too large or unsupported files are refused with
 * BAD_USER_INPUT on `file`, and nothing is stored.
 */
import { GraphQLError } from 'graphql';
import { canSeeClient, requireRole, STAFF } from '../auth/rules.ts';
import { builder, encodeGlobalId } from '../builder.ts';
import { badInput, notFound } from '../errors.ts';
import { enqueueJob, prismaSql } from '../jobs/queue.ts';
import { type StoredUpload, storageFor, UploadRejected } from '../jobs/storage.ts';
import { BackgroundJob } from './jobs.ts';
import { payloadQuery } from './lists.ts';
import { idOf } from './validate.ts';

builder.scalarType('Upload', {
  description:
    'A file sent as a part of a GraphQL multipart request (input only). At most UPLOAD_MAX_BYTES (10 MiB by default).',
  serialize: () => {
    throw new GraphQLError('Upload is an input-only scalar');
  },
  parseValue: (value) => {
    const file = value as File | null;
    if (!file || typeof file !== 'object' || typeof file.stream !== 'function') {
      throw new GraphQLError('Upload must be a file part of a multipart request', {
        extensions: { code: 'BAD_USER_INPUT' },
      });
    }
    return file;
  },
});

const AssetStatusEnum = builder.enumType('AssetStatus', {
  description: "Where an uploaded file's processing stands.",
  values: {
    PROCESSING: { description: 'Stored; its `processUpload` job has not finished.' },
    READY: { description: 'Checked: size, SHA-256, type and (for images) pixel size are set.' },
    FAILED: { description: 'The stored file was missing or not of a supported type.' },
  } as const,
});

const Asset = builder.prismaObject('Asset', {
  description: 'A stored file attached to a post or a deliverable.',
  fields: (t) => ({
    id: t.id({
      description: 'Global ID of the asset (not loadable with `node(id:)`).',
      resolve: (a) => encodeGlobalId('Asset', a.id),
    }),
    filename: t.exposeString('filename', {
      description: 'The name the client sent, up to 255 characters (`upload` when none).',
    }),
    contentType: t.exposeString('contentType', {
      description: 'MIME type detected from the file’s bytes, not its name (`image/png`).',
    }),
    sizeBytes: t.exposeInt('sizeBytes', {
      nullable: true,
      description: 'Size in bytes; null until READY.',
    }),
    sha256: t.exposeString('sha256', {
      nullable: true,
      description: 'SHA-256 of the bytes, 64 lower-case hex digits; null until READY.',
    }),
    width: t.exposeInt('width', {
      nullable: true,
      description: 'Image width in pixels; null for PDFs and until READY.',
    }),
    height: t.exposeInt('height', {
      nullable: true,
      description: 'Image height in pixels; null for PDFs and until READY.',
    }),
    status: t.expose('status', { type: AssetStatusEnum, description: 'Processing state.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was uploaded.' }),
  }),
});

const UploadAssetPayload = builder
  .objectRef<{ asset: unknown; job: unknown }>('UploadAssetPayload')
  .implement({
    description: 'The result of `uploadAsset`.',
    fields: (t) => ({
      asset: t.field({
        type: Asset,
        description: 'The stored file, PROCESSING until its job finishes.',
        resolve: (p) => p.asset as never,
      }),
      job: t.field({
        type: BackgroundJob,
        description: 'The `processUpload` job that checks the file.',
        resolve: (p) => p.job as never,
      }),
    }),
  });

builder.mutationField('uploadAsset', (t) =>
  t.field({
    type: UploadAssetPayload,
    description:
      'Uploads a PNG, JPEG, GIF, WebP or PDF for a post or a deliverable (give exactly one). Returns the processing job at once. Staff only; multipart requests only.',
    args: {
      file: t.arg({
        type: 'Upload',
        required: true,
        description:
          'The file, at most UPLOAD_MAX_BYTES (10 MiB by default). Too large or of another type is BAD_USER_INPUT on `file`.',
      }),
      postId: t.arg.id({ description: 'Attach to this post (NOT_FOUND if unknown).' }),
      deliverableId: t.arg.id({
        description: 'Attach to this deliverable (NOT_FOUND if unknown).',
      }),
    },
    resolve: async (_root, args, ctx, info) => {
      const viewer = requireRole(ctx, STAFF, 'upload files');
      if ((args.postId == null) === (args.deliverableId == null)) {
        throw badInput('postId', 'Give exactly one of `postId` and `deliverableId`');
      }
      let target: { postId: number | null; deliverableId: number | null; clientId: number };
      if (args.postId != null) {
        const id = idOf('postId', args.postId, 'Post');
        const post = await ctx.prisma.post.findUnique({
          where: { id },
          select: { clientId: true },
        });
        if (!post || !canSeeClient(viewer, post.clientId))
          throw notFound('postId', `No post with ID ${args.postId}`);
        target = { postId: id, deliverableId: null, clientId: post.clientId };
      } else {
        const id = idOf('deliverableId', args.deliverableId as string, 'Deliverable');
        const d = await ctx.prisma.deliverable.findUnique({
          where: { id },
          select: { clientId: true },
        });
        if (!d || !canSeeClient(viewer, d.clientId)) {
          throw notFound('deliverableId', `No deliverable with ID ${args.deliverableId}`);
        }
        target = { postId: null, deliverableId: id, clientId: d.clientId };
      }
      const storage = await storageFor(ctx.config.storage);
      let stored: StoredUpload;
      try {
        stored = await storage.put(args.file, ctx.config.jobs.uploadMaxBytes);
      } catch (err) {
        if (err instanceof UploadRejected) throw badInput('file', err.message);
        throw err;
      }
      try {
        const { assetId, jobId } = await ctx.prisma.$transaction(async (tx) => {
          const asset = await tx.asset.create({
            data: {
              ...target,
              filename: (args.file.name || 'upload').slice(0, 255),
              storageKey: stored.key,
              contentType: stored.contentType,
              uploadedById: viewer.id,
            },
            select: { id: true },
          });
          const jobId = await enqueueJob(prismaSql(tx), {
            kind: 'processUpload',
            payload: { assetId: asset.id },
            startedById: viewer.id,
            clientId: target.clientId,
          });
          return { assetId: asset.id, jobId };
        });
        const [asset, job] = await Promise.all([
          ctx.prisma.asset.findUniqueOrThrow({
            ...payloadQuery(ctx, info, 'asset'),
            where: { id: assetId },
          }),
          ctx.prisma.backgroundJob.findUniqueOrThrow({
            ...payloadQuery(ctx, info, 'job'),
            where: { id: jobId },
          }),
        ]);
        return { asset, job };
      } catch (err) {
        await storage
          .remove(stored.key)
          .catch((cleanup) =>
            ctx.log.warn({ err: cleanup, key: stored.key }, 'stored upload not removed'),
          );
        throw err;
      }
    },
  }),
);
