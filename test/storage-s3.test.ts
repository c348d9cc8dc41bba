/**
 * STORAGE_BACKEND=s3 against a real S3-compatible server (s3rver): the API (this process,
 * WORKER_MODE=separate) and a worker (`npm run worker`, a child process) each have their own
 * empty STORAGE_DIR, so only the bucket can carry a file from one to the other. Refused
 * uploads leave no object and no unfinished multipart upload; start-up refuses a bucket it
 * cannot use, with a message that names it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storageFor, UploadRejected } from '../src/jobs/storage.ts';
import { EDITOR } from './fixtures.ts';
import { gid, rawId, useTestApp } from './harness.ts';
import { waitForJob } from './jobs-helpers.ts';
import { startS3Server } from './s3-server.ts';
import { runToExit, startWorkerProcess } from './worker-process.ts';

const s3 = await startS3Server();
afterAll(() => s3.close());
const apiDir = await mkdtemp(path.join(os.tmpdir(), 'postline-api-storage-'));
const workerDir = await mkdtemp(path.join(os.tmpdir(), 'postline-worker-storage-'));
const MiB = 1024 * 1024;
const LIMIT = 6 * MiB; // above one 5 MiB part, so a refusal can happen mid multipart upload
const storageEnv = { ...s3.env, S3_KEY_PREFIX: 'uploads/', UPLOAD_MAX_BYTES: String(LIMIT) };
const t = await useTestApp({ ...storageEnv, WORKER_MODE: 'separate', STORAGE_DIR: apiDir });

beforeAll(async () => {
  await startWorkerProcess({ ...storageEnv, DATABASE_URL: t.url, STORAGE_DIR: workerDir });
});

const UPLOAD = `mutation($file: Upload!, $postId: ID) {
  uploadAsset(file: $file, postId: $postId) { asset { id status contentType } job { id } }
}`;

async function upload(bytes: Buffer, name: string) {
  const [post] = await t.sql('SELECT id FROM posts ORDER BY id LIMIT 1');
  const form = new FormData();
  form.set(
    'operations',
    JSON.stringify({ query: UPLOAD, variables: { file: null, postId: gid('Post', post.id) } }),
  );
  form.set('map', JSON.stringify({ 0: ['variables.file'] }));
  form.set('0', new File([new Uint8Array(bytes)], name, { type: 'application/octet-stream' }));
  const res = await t.app.yoga.fetch('http://postline.test/graphql', {
    method: 'POST',
    // CSRF prevention: multipart needs a header a browser cannot send cross-site unasked.
    headers: {
      authorization: `Bearer ${await t.tokenFor(EDITOR)}`,
      'apollo-require-preflight': 'true',
    },
    body: form,
  });
  return (await res.json()) as {
    data: {
      uploadAsset: { asset: { id: string; status: string }; job: { id: string } };
    } | null;
    errors?: { message: string; extensions?: Record<string, unknown> }[];
  };
}

function png(width: number, height: number, padding: number): Buffer {
  const ihdr = Buffer.alloc(25);
  ihdr.writeUInt32BE(13, 0);
  ihdr.write('IHDR', 4, 'latin1');
  ihdr.writeUInt32BE(width, 8);
  ihdr.writeUInt32BE(height, 12);
  ihdr.set([8, 6, 0, 0, 0], 16);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    ihdr,
    randomBytes(padding),
  ]);
}

async function objectBytes(key: string): Promise<{ bytes: Buffer; contentType?: string }> {
  const res = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
  return {
    bytes: Buffer.from(
      await (res.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    ),
    contentType: res.ContentType,
  };
}

const localFiles = async () => [...(await readdir(apiDir)), ...(await readdir(workerDir))];

/** Uploads `bytes`; the worker process must record the asset READY with its size and hash. */
async function uploadAndProcess(bytes: Buffer, name: string) {
  const res = await upload(bytes, name);
  expect(res.errors).toBeUndefined();
  const { asset, job } = res.data!.uploadAsset;
  const done = await waitForJob(t, job.id, undefined, 60_000);
  expect(done).toMatchObject({ status: 'SUCCEEDED', lastError: null });
  const [row] = await t.sql(
    'SELECT status::text, size_bytes, sha256, width, height, storage_key FROM assets WHERE id = $1',
    [rawId(asset.id)],
  );
  expect(row).toMatchObject({
    status: 'READY',
    size_bytes: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  });
  return row as { storage_key: string; width: number | null; height: number | null };
}

describe('S3 storage with the API and a worker in separate processes', () => {
  it('an upload through the API is processed by the worker from the bucket', async () => {
    const bytes = png(800, 600, 200_000);
    const row = await uploadAndProcess(bytes, 'hero.png');
    expect(row).toMatchObject({ width: 800, height: 600 });
    const key = `uploads/${row.storage_key}`;
    expect(await s3.objects()).toContain(key);
    const stored = await objectBytes(key);
    expect(stored.bytes.equals(bytes)).toBe(true);
    expect(stored.contentType).toBe('image/png');
    // Neither process wrote the file to its own disk: the bucket carried it.
    expect(await localFiles()).toEqual([]);
  });

  it('a file larger than one part goes up as a multipart upload', async () => {
    const before = s3.requests.length;
    const bytes = png(4000, 3000, 5 * MiB + 300_000);
    const row = await uploadAndProcess(bytes, 'poster.png');
    const sent = s3.requests.slice(before);
    expect(sent).toContain('POST uploads');
    expect(sent.filter((r) => r === 'PUT uploadId+partNumber')).toHaveLength(2);
    expect(sent).toContain('POST uploadId');
    expect((await objectBytes(`uploads/${row.storage_key}`)).bytes.equals(bytes)).toBe(true);
    expect(await s3.pendingMultipartUploads()).toEqual([]);
  });

  it('refused uploads leave no object and no unfinished multipart upload', async () => {
    const objects = await s3.objects();
    const [{ n: assets }] = await t.sql('SELECT count(*)::int AS n FROM assets');
    let before = s3.requests.length;

    // Through the API: over the declared size limit, or not an image: nothing is sent.
    const big = await upload(png(10, 10, LIMIT), 'big.png');
    expect(big.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'file' });
    expect(big.errors?.[0]?.message).toMatch(/the limit is 6291456 bytes/);
    const text = await upload(Buffer.from('just some text, not an image at all'), 'notes.txt');
    expect(text.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'file' });
    expect(text.errors?.[0]?.message).toMatch(/Unsupported file type/);
    expect(s3.requests.slice(before)).toEqual([]);

    // A stream longer than its declared size (a lying client, or a parser that cannot know
    // the size yet): cut off at the limit after one part went up; the upload is aborted.
    before = s3.requests.length;
    const storage = await storageFor(t.app.services.config.storage);
    const liar = png(10, 10, LIMIT + MiB);
    const stream = () =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          for (let at = 0; at < liar.length; at += 64 * 1024) {
            controller.enqueue(new Uint8Array(liar.subarray(at, at + 64 * 1024)));
          }
          controller.close();
        },
      });
    await expect(storage.put({ name: 'liar.png', size: 1000, stream }, LIMIT)).rejects.toThrow(
      new UploadRejected('The file is larger than the limit of 6291456 bytes'),
    );
    const sent = s3.requests.slice(before);
    expect(sent).toContain('POST uploads');
    expect(sent).toContain('PUT uploadId+partNumber');
    expect(sent).toContain('DELETE uploadId');
    expect(sent).not.toContain('POST uploadId');

    expect(await s3.objects()).toEqual(objects);
    expect(await s3.pendingMultipartUploads()).toEqual([]);
    expect((await t.sql('SELECT count(*)::int AS n FROM assets'))[0].n).toBe(assets);
    expect(await localFiles()).toEqual([]);
  });

  it('start-up refuses a bucket it cannot use, naming it', { timeout: 120_000 }, async () => {
    const [missing, wrongKey] = await Promise.all([
      runToExit('src/jobs/worker-main.ts', {
        ...storageEnv,
        DATABASE_URL: t.url,
        S3_BUCKET: 'no-such-bucket',
      }),
      runToExit('src/server.ts', {
        ...storageEnv,
        DATABASE_URL: t.url,
        S3_ACCESS_KEY_ID: 'NOT-A-KEY',
        PORT: '0',
      }),
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('bucket "no-such-bucket"');
    expect(missing.stderr).toContain('does not exist');
    expect(missing.stdout).not.toContain('ready');

    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toContain(`bucket "${s3.bucket}" at ${s3.endpoint}`);
    expect(wrongKey.stderr).toMatch(/access denied/);
    expect(wrongKey.stdout).not.toContain('listening');
  });
});
