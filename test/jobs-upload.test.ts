/**
 * uploadAsset through a GraphQL multipart request (operations / map / file parts), then the
 * processUpload job: size, SHA-256, detected type and image size; refused uploads leave
 * nothing behind. Also recomputeAnalytics and the dashboard reading its rollup.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADMIN, CLIENT1, EDITOR } from './fixtures.ts';
import { gid, rawId, useTestApp } from './harness.ts';
import { FAST_JOBS_ENV, useRunner, waitForJob } from './jobs-helpers.ts';

const storage = await mkdtemp(path.join(os.tmpdir(), 'postline-storage-'));
const LIMIT = 64 * 1024;
const t = await useTestApp({
  ...FAST_JOBS_ENV,
  STORAGE_DIR: storage,
  UPLOAD_MAX_BYTES: String(LIMIT),
});
await useRunner(t);

const UPLOAD = `mutation($file: Upload!, $postId: ID, $deliverableId: ID) {
  uploadAsset(file: $file, postId: $postId, deliverableId: $deliverableId) {
    asset { id filename status contentType }
    job { id status kind }
  }
}`;

async function upload(bytes: Buffer, name: string, vars: Record<string, string>, as = EDITOR) {
  const form = new FormData();
  form.set('operations', JSON.stringify({ query: UPLOAD, variables: { file: null, ...vars } }));
  form.set('map', JSON.stringify({ 0: ['variables.file'] }));
  form.set('0', new File([new Uint8Array(bytes)], name, { type: 'application/octet-stream' }));
  const res = await t.app.yoga.fetch('http://postline.test/graphql', {
    method: 'POST',
    // Multipart needs a header a browser cannot send cross-site without a preflight (CSRF
    // prevention), as apollo-upload-client sends it.
    headers: {
      authorization: `Bearer ${await t.tokenFor(as)}`,
      'apollo-require-preflight': 'true',
    },
    body: form,
  });
  return (await res.json()) as {
    data: any;
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

function jpeg(width: number, height: number): Buffer {
  const app0 = Buffer.from([
    0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0,
  ]);
  const sof = Buffer.from([
    0xff,
    0xc0,
    0x00,
    0x11,
    0x08,
    height >> 8,
    height & 255,
    width >> 8,
    width & 255,
    3,
    1,
    0x22,
    0,
    2,
    0x11,
    1,
    3,
    0x11,
    1,
  ]);
  return Buffer.concat([
    Buffer.from([0xff, 0xd8]),
    app0,
    sof,
    randomBytes(300),
    Buffer.from([0xff, 0xd9]),
  ]);
}

const postId = async () =>
  gid('Post', (await t.sql(`SELECT id FROM posts ORDER BY id LIMIT 1`))[0].id);
const files = async () => (await readdir(storage)).sort();

describe('uploadAsset + processUpload', () => {
  it('stores a PNG; the job records its size, SHA-256, type and dimensions', async () => {
    const bytes = png(640, 480, 20_000);
    const res = await upload(bytes, 'hero.png', { postId: await postId() });
    expect(res.errors).toBeUndefined();
    const { asset, job } = res.data.uploadAsset;
    expect(asset).toMatchObject({
      filename: 'hero.png',
      status: 'PROCESSING',
      contentType: 'image/png',
    });
    expect(job.kind).toBe('processUpload');
    // Returned at once; the inline runner may already have picked it up.
    expect(['QUEUED', 'RUNNING', 'SUCCEEDED']).toContain(job.status);
    const done = await waitForJob(t, job.id);
    expect(done.status).toBe('SUCCEEDED');
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    expect(JSON.parse(done.result as string)).toEqual({
      assetId: rawId(asset.id),
      sizeBytes: bytes.length,
      sha256,
      contentType: 'image/png',
      width: 640,
      height: 480,
    });
    const [row] = await t.sql(
      'SELECT status::text, size_bytes, sha256, width, height, storage_key FROM assets WHERE id = $1',
      [rawId(asset.id)],
    );
    expect(row).toMatchObject({
      status: 'READY',
      size_bytes: bytes.length,
      sha256,
      width: 640,
      height: 480,
    });
    expect((await readFile(path.join(storage, row.storage_key))).equals(bytes)).toBe(true);
  });

  it('reads JPEG dimensions, for a deliverable', async () => {
    const [d] = await t.sql('SELECT id FROM deliverables ORDER BY id LIMIT 1');
    const res = await upload(jpeg(1200, 800), 'photo.jpg', {
      deliverableId: gid('Deliverable', d.id),
    });
    expect(res.errors).toBeUndefined();
    const done = await waitForJob(t, res.data.uploadAsset.job.id);
    expect(JSON.parse(done.result as string)).toMatchObject({
      contentType: 'image/jpeg',
      width: 1200,
      height: 800,
    });
  });

  it('refuses an oversized file and an unsupported type; nothing is stored', async () => {
    const before = await files();
    const assets = (await t.sql('SELECT count(*)::int AS n FROM assets'))[0].n;
    const jobs = (await t.sql('SELECT count(*)::int AS n FROM background_jobs'))[0].n;
    const big = await upload(png(10, 10, LIMIT + 1), 'big.png', { postId: await postId() });
    expect(big.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'file' });
    expect(big.errors?.[0]?.message).toMatch(/limit/);
    const text = await upload(Buffer.from('just some text, not an image at all'), 'notes.txt', {
      postId: await postId(),
    });
    expect(text.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'file' });
    expect(text.errors?.[0]?.message).toMatch(/Unsupported file type/);
    expect(await files()).toEqual(before);
    expect((await t.sql('SELECT count(*)::int AS n FROM assets'))[0].n).toBe(assets);
    expect((await t.sql('SELECT count(*)::int AS n FROM background_jobs'))[0].n).toBe(jobs);
  });

  it('client users may not upload; exactly one target is required', async () => {
    const denied = await upload(png(1, 1, 10), 'x.png', { postId: await postId() }, CLIENT1);
    expect(denied.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const none = await upload(png(1, 1, 10), 'x.png', {});
    expect(none.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'postId' });
  });
});

describe('computeAnalytics', () => {
  const STATS = `query($c: ID) { dashboardStats(clientId: $c) { postsByStatus { status count } postsByPlatform { platform count } projectsByStatus { status count } overdueDeliverables postsScheduledNext7Days } }`;
  const sorted = (d: any) => ({
    ...d,
    postsByStatus: [...d.postsByStatus].sort((a, b) => a.status.localeCompare(b.status)),
    postsByPlatform: [...d.postsByPlatform].sort((a, b) => a.platform.localeCompare(b.platform)),
    projectsByStatus: [...d.projectsByStatus].sort((a, b) => a.status.localeCompare(b.status)),
  });

  it('recomputeAnalytics rolls up per project; dashboardStats answers the same from the rollup', async () => {
    const client = gid('Client', (await t.sql('SELECT id FROM clients ORDER BY id LIMIT 1'))[0].id);
    const liveAll = sorted((await t.gql(STATS, {}, { as: ADMIN })).data?.dashboardStats);
    const liveOne = sorted((await t.gql(STATS, { c: client }, { as: ADMIN })).data?.dashboardStats);
    const res = await t.gql(
      `mutation { recomputeAnalytics(input: {}) { job { id status kind } } }`,
      {},
      { as: ADMIN },
    );
    expect(res.errors).toBeUndefined();
    const done = await waitForJob(t, res.data?.recomputeAnalytics.job.id);
    expect(done.status).toBe('SUCCEEDED');
    const [sum] = await t.sql(
      `SELECT sum(posts_total)::int AS n, count(*)::int AS projects FROM analytics_daily WHERE day = (now() AT TIME ZONE 'UTC')::date`,
    );
    const [live] = await t.sql('SELECT count(*)::int AS n FROM posts');
    const [projects] = await t.sql('SELECT count(*)::int AS n FROM projects');
    expect(sum).toEqual({ n: live.n, projects: projects.n });
    // Same answers, now from the rollup (the statements show it).
    expect(sorted((await t.gql(STATS, {}, { as: ADMIN })).data?.dashboardStats)).toEqual(liveAll);
    expect(t.lastStatements().some((s) => s.sql.includes('analytics_daily'))).toBe(true);
    expect(
      sorted((await t.gql(STATS, { c: client }, { as: CLIENT1 })).data?.dashboardStats),
    ).toEqual(liveOne);
    // A write after the rollup: live counts again, including it.
    const [p] = await t.sql(`SELECT id FROM posts WHERE status = 'DRAFT' ORDER BY id LIMIT 1`);
    await t.gql(
      `mutation($id: ID!) { updatePost(input: { id: $id, status: IN_REVIEW }) { post { status } } }`,
      { id: gid('Post', p.id) },
      { as: ADMIN },
    );
    const after = sorted((await t.gql(STATS, {}, { as: ADMIN })).data?.dashboardStats);
    const count = (d: any, s: string) =>
      d.postsByStatus.find((x: any) => x.status === s)?.count ?? 0;
    expect(count(after, 'IN_REVIEW')).toBe(count(liveAll, 'IN_REVIEW') + 1);
    expect(count(after, 'DRAFT')).toBe(count(liveAll, 'DRAFT') - 1);
  });
});
