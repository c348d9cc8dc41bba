/**
 * Where uploaded files live: a small `Storage` interface with two backends, chosen by
 * STORAGE_BACKEND. `local` keeps files under STORAGE_DIR (one host); `s3` keeps them in an
 * S3-compatible bucket (storage-s3.ts), so an API instance and a worker on different hosts
 * read the same files.
 *
 * Every upload goes through the same checks while it streams, whatever the backend: the
 * declared size, the type sniffed from the first bytes (before anything is written), and the
 * running byte count (cut off at the limit). A refused or failed upload leaves nothing behind.
 */
import { randomUUID } from 'node:crypto';
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { access, mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Config } from '../config.ts';
import { detectType, type SupportedType } from './media.ts';

export class UploadRejected extends Error {
  override name = 'UploadRejected';
}

/** The stored file is gone (deleted from the bucket or the directory): no retry brings it back. */
export class StoredFileMissing extends Error {
  override name = 'StoredFileMissing';
}

/** The backend cannot be reached or used (start-up check). The message says what to fix. */
export class StorageUnavailable extends Error {
  override name = 'StorageUnavailable';
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

export interface Storage {
  readonly kind: 'local' | 's3';
  /** Streams `file` in under a new key; throws UploadRejected (leaving nothing) when refused. */
  put(file: UploadLike, maxBytes: number): Promise<StoredUpload>;
  /** The stored bytes; throws StoredFileMissing when the key holds nothing. */
  read(key: string): AsyncIterable<Buffer>;
  /** Removes a stored file; a missing one is not an error. */
  remove(key: string): Promise<void>;
  /** Start-up check: throws StorageUnavailable naming the setting to fix. */
  check(): Promise<void>;
}

export type StorageSettings = Config['storage'];

const UNSUPPORTED = 'Unsupported file type; upload PNG, JPEG, GIF, WebP or PDF';
const SNIFF_BYTES = 16;

/** An upload whose type was sniffed; `body` yields the bytes and enforces the size limit. */
export interface OpenedUpload {
  contentType: SupportedType;
  body: AsyncIterable<Buffer>;
  /** Bytes yielded so far (the file's size once `body` is drained). */
  readonly size: number;
  /** The refusal that stopped `body`, if any (survives errors a backend wraps around it). */
  readonly rejection: UploadRejected | null;
}

/**
 * Reads the first bytes of `file` and sniffs its type before any byte is stored; the returned
 * body re-yields them and counts every byte, failing with UploadRejected past `maxBytes`.
 */
export async function openUpload(file: UploadLike, maxBytes: number): Promise<OpenedUpload> {
  if (file.size > maxBytes) {
    throw new UploadRejected(`The file is ${file.size} bytes; the limit is ${maxBytes} bytes`);
  }
  const source = chunks(file.stream());
  const head: Buffer[] = [];
  let headLength = 0;
  let ended = false;
  while (headLength < SNIFF_BYTES) {
    const next = await source.next();
    if (next.done) {
      ended = true;
      break;
    }
    head.push(next.value);
    headLength += next.value.length;
  }
  const contentType = detectType(Buffer.concat(head).subarray(0, SNIFF_BYTES));
  if (!contentType) {
    await source.return(undefined);
    throw new UploadRejected(UNSUPPORTED);
  }
  const state = { size: 0, rejection: null as UploadRejected | null };
  async function* body(): AsyncGenerator<Buffer> {
    const count = (chunk: Buffer) => {
      state.size += chunk.length;
      if (state.size > maxBytes) {
        state.rejection = new UploadRejected(
          `The file is larger than the limit of ${maxBytes} bytes`,
        );
        throw state.rejection;
      }
      return chunk;
    };
    try {
      for (const chunk of head) yield count(chunk);
      if (!ended) for await (const chunk of source) yield count(chunk);
    } finally {
      await source.return(undefined);
    }
  }
  return {
    contentType,
    body: body(),
    get size() {
      return state.size;
    },
    get rejection() {
      return state.rejection;
    },
  };
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

/** Files under one directory: streamed to `<key>.part`, renamed into place when accepted. */
export class LocalStorage implements Storage {
  readonly kind = 'local';
  constructor(readonly dir: string) {}

  path(key: string): string {
    return path.join(this.dir, key);
  }

  async put(file: UploadLike, maxBytes: number): Promise<StoredUpload> {
    const upload = await openUpload(file, maxBytes);
    await mkdir(this.dir, { recursive: true });
    const key = randomUUID();
    const partial = this.path(`${key}.part`);
    try {
      await pipeline(Readable.from(upload.body), createWriteStream(partial));
      await rename(partial, this.path(key));
      return { key, size: upload.size, contentType: upload.contentType };
    } catch (err) {
      await rm(partial, { force: true });
      throw upload.rejection ?? err;
    }
  }

  async *read(key: string): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of createReadStream(this.path(key))) yield chunk as Buffer;
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') {
        throw new StoredFileMissing(`No stored file ${key} in STORAGE_DIR`);
      }
      throw err;
    }
  }

  async remove(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async check(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true });
      await access(this.dir, constants.W_OK);
    } catch (err) {
      throw new StorageUnavailable(
        `STORAGE_DIR ${this.dir} is not a writable directory (${(err as Error).message})`,
      );
    }
  }
}

const opened = new WeakMap<StorageSettings, Promise<Storage>>();

/**
 * The storage backend for these settings, created once. The S3 client is loaded only when
 * STORAGE_BACKEND=s3.
 */
export function storageFor(settings: StorageSettings): Promise<Storage> {
  let storage = opened.get(settings);
  if (!storage) {
    storage =
      settings.backend === 's3'
        ? import('./storage-s3.ts').then(({ S3Storage }) => new S3Storage(settings.s3))
        : Promise.resolve(new LocalStorage(settings.dir));
    opened.set(settings, storage);
  }
  return storage;
}

/** For process entry points: checks the backend, or exits 1 with a message that says why. */
export async function checkStorageOrExit(settings: StorageSettings): Promise<void> {
  try {
    await (await storageFor(settings)).check();
  } catch (err) {
    if (err instanceof StorageUnavailable) {
      process.stderr.write(`Storage is not usable: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}
