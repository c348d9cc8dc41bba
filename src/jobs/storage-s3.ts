/**
 * Files in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2, ...). Uploads stream through
 * `@aws-sdk/lib-storage`: one PUT for a file smaller than a part, a multipart upload of
 * 5 MiB parts otherwise, one part in flight at a time (memory per upload stays near two
 * parts). A refused or failed upload sends nothing (refused on its first bytes), aborts its
 * multipart upload, and deletes the key in case a last request completed unseen.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Config } from '../config.ts';
import {
  openUpload,
  type Storage,
  StorageUnavailable,
  StoredFileMissing,
  type StoredUpload,
  type UploadLike,
} from './storage.ts';

export type S3Settings = Config['storage']['s3'];

/** S3's smallest part (all parts but the last must be at least this). */
export const PART_BYTES = 5 * 1024 * 1024;

export class S3Storage implements Storage {
  readonly kind = 's3';
  readonly client: S3Client;

  constructor(readonly settings: S3Settings) {
    const config: S3ClientConfig = {
      region: settings.region,
      forcePathStyle: settings.forcePathStyle,
      // Checksums only where S3 requires them: several S3-compatible servers reject or
      // mis-store the SDK's default CRC32 trailers.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // A dead endpoint fails in seconds; a 5 MiB part has a minute.
      requestHandler: { connectionTimeout: 5000, requestTimeout: 60_000 },
    };
    if (settings.endpoint) config.endpoint = settings.endpoint;
    // Without explicit keys the SDK's default chain applies (AWS_* variables, profiles,
    // web identity, container and instance roles).
    if (settings.accessKeyId && settings.secretAccessKey) {
      config.credentials = {
        accessKeyId: settings.accessKeyId,
        secretAccessKey: settings.secretAccessKey,
      };
    }
    this.client = new S3Client(config);
  }

  objectKey(key: string): string {
    return `${this.settings.keyPrefix}${key}`;
  }

  async put(file: UploadLike, maxBytes: number): Promise<StoredUpload> {
    const upload = await openUpload(file, maxBytes);
    const key = randomUUID();
    const transfer = new Upload({
      client: this.client,
      params: {
        Bucket: this.settings.bucket,
        Key: this.objectKey(key),
        Body: Readable.from(upload.body),
        ContentType: upload.contentType,
      },
      partSize: PART_BYTES,
      queueSize: 1,
      leavePartsOnError: false,
    });
    try {
      await transfer.done();
      return { key, size: upload.size, contentType: upload.contentType };
    } catch (err) {
      // lib-storage has already tried to abort a multipart upload (its error, if the abort
      // failed too, replaces ours: `rejection` keeps the reason the client must see).
      await this.remove(key).catch(() => {});
      throw upload.rejection ?? err;
    }
  }

  async *read(key: string): AsyncGenerator<Buffer> {
    let body: unknown;
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.settings.bucket, Key: this.objectKey(key) }),
      );
      body = res.Body;
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchKey') {
        throw new StoredFileMissing(
          `No object ${this.objectKey(key)} in bucket ${this.settings.bucket}`,
        );
      }
      throw err;
    }
    for await (const chunk of body as AsyncIterable<Uint8Array>) {
      yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    }
  }

  async remove(key: string): Promise<void> {
    await this.client.send(
      new DeleteObjectCommand({ Bucket: this.settings.bucket, Key: this.objectKey(key) }),
    );
  }

  async check(): Promise<void> {
    const where = `bucket "${this.settings.bucket}" at ${this.settings.endpoint ?? `AWS S3 (${this.settings.region})`}`;
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.settings.bucket }));
    } catch (err) {
      const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
      const status = e.$metadata?.httpStatusCode;
      const reason =
        status === 404 || e.name === 'NotFound' || e.name === 'NoSuchBucket'
          ? 'the bucket does not exist (S3_BUCKET)'
          : status === 403 || status === 401
            ? 'access denied: check S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY or the AWS credentials in the environment'
            : e.name === 'CredentialsProviderError'
              ? 'no credentials: set S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or AWS credentials the SDK can find'
              : `it did not answer (${e.name ?? 'Error'}: ${e.message || status || 'no message'}); check S3_ENDPOINT, S3_REGION and S3_FORCE_PATH_STYLE`;
      throw new StorageUnavailable(`S3 ${where} is not usable: ${reason}`);
    }
  }
}
