process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/**
 * A real S3-compatible server for tests: s3rver (objects on disk; it checks the access key id, not SigV4 signatures) on a loopback
 * port, with one bucket. s3rver lacks AbortMultipartUpload; this wrapper answers it the way
 * S3 does (the upload's parts are deleted), so a test can see that nothing was left behind.
 * Every request is recorded (method and S3 operation), so a test can see what was sent.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';

export interface TestS3 {
  endpoint: string;
  bucket: string;
  /** Settings that point Postline at this server (STORAGE_BACKEND=s3, path-style, keys). */
  env: Record<string, string>;
  client: S3Client;
  /** Keys of the objects in the bucket, sorted. */
  objects(): Promise<string[]>;
  /** Multipart uploads started and neither completed nor aborted. */
  pendingMultipartUploads(): Promise<string[]>;
  /** `METHOD operation` of every request so far, e.g. `POST uploads`, `DELETE uploadId`. */
  requests: string[];
  close(): Promise<void>;
}

const OPERATIONS = ['uploads', 'uploadId', 'partNumber', 'list-type', 'delete'];

export async function startS3Server(bucket = 'postline-test'): Promise<TestS3> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'postline-s3-'));
  const s3rver = new S3rver({
    silent: true,
    directory: dir,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  await s3rver.configureBuckets();
  const handle = s3rver.callback();
  const uploadsDir = path.join(dir, bucket, '._S3rver_uploads');
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://s3.test');
    const operation = OPERATIONS.filter((o) => url.searchParams.has(o)).join('+');
    requests.push(`${req.method} ${operation || 'object'}`);
    const uploadId = url.searchParams.get('uploadId');
    if (req.method === 'DELETE' && uploadId && /^[0-9a-f]+$/.test(uploadId)) {
      // AbortMultipartUpload: drop the parts, answer 204 as S3 does.
      req.resume();
      void rm(path.join(uploadsDir, uploadId), { recursive: true, force: true }).then(() => {
        res.statusCode = 204;
        res.end();
      });
      return;
    }
    handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  return {
    endpoint,
    bucket,
    env: {
      STORAGE_BACKEND: 's3',
      S3_ENDPOINT: endpoint,
      S3_BUCKET: bucket,
      S3_REGION: 'us-east-1',
      S3_FORCE_PATH_STYLE: 'true',
      S3_ACCESS_KEY_ID: 'S3RVER',
      S3_SECRET_ACCESS_KEY: 'S3RVER',
    },
    client,
    requests,
    async objects() {
      const res = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
      return (res.Contents ?? []).map((o) => o.Key ?? '').sort();
    },
    async pendingMultipartUploads() {
      return (await readdir(uploadsDir).catch(() => [])).sort();
    },
    async close() {
      client.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
