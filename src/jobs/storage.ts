/**
 * Local file storage under STORAGE_DIR. Uploads are streamed to a temporary file, refused
 * (and removed) when too large or of an unsupported type, then renamed into place.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { detectType, type SupportedType } from './media.ts';

export class UploadRejected extends Error {
  override name = 'UploadRejected';
}

export interface StoredUpload {
  key: string;
  size: number;
  contentType: SupportedType;
}

export interface UploadLike {
  name: string;
  size: number;
  stream(): ReadableStream<Uint8Array>;
}

export const storagePath = (dir: string, key: string) => path.join(dir, key);

/** Streams `file` into `dir`; throws UploadRejected (leaving nothing behind) when refused. */
export async function storeUpload(
  file: UploadLike,
  dir: string,
  maxBytes: number,
): Promise<StoredUpload> {
  if (file.size > maxBytes) {
    throw new UploadRejected(`The file is ${file.size} bytes; the limit is ${maxBytes} bytes`);
  }
  await mkdir(dir, { recursive: true });
  const key = randomUUID();
  const partial = storagePath(dir, `${key}.part`);
  let size = 0;
  let head = Buffer.alloc(0);
  const guard = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      if (size > maxBytes) {
        cb(new UploadRejected(`The file is larger than the limit of ${maxBytes} bytes`));
        return;
      }
      if (head.length < 16) {
        head = Buffer.concat([head, chunk.subarray(0, 16 - head.length)]);
        if (head.length >= 16 && !detectType(head)) {
          cb(new UploadRejected('Unsupported file type; upload PNG, JPEG, GIF, WebP or PDF'));
          return;
        }
      }
      cb(null, chunk);
    },
  });
  try {
    await pipeline(Readable.from(chunks(file.stream())), guard, createWriteStream(partial));
    const contentType = detectType(head);
    if (!contentType)
      throw new UploadRejected('Unsupported file type; upload PNG, JPEG, GIF, WebP or PDF');
    await rename(partial, storagePath(dir, key));
    return { key, size, contentType };
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
}

/** Reads any WHATWG stream (native or a fetch ponyfill's) chunk by chunk. */
async function* chunks(stream: ReadableStream<Uint8Array>): AsyncGenerator<Buffer> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    }
  } finally {
    reader.releaseLock();
  }
}

export async function removeStored(dir: string, key: string): Promise<void> {
  await rm(storagePath(dir, key), { force: true });
}
