/**
 * Inspects an uploaded file already in storage (local or S3, whichever the process is
 * configured with): size, SHA-256, content type by magic bytes and
 * pixel size for images; marks the asset READY. Reading a file twice changes nothing.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { announceWrites } from '../../cache/writes.ts';
import { detectType, imageSize } from '../media.ts';
import { pgSql } from '../queue.ts';
import { StoredFileMissing, storageFor } from '../storage.ts';
import { defineTask, PermanentJobError } from '../task.ts';

const HEADER_BYTES = 512 * 1024;

export const processUploadPayload = z.object({ assetId: z.number().int().positive() });

export default defineTask({
  kind: 'processUpload',
  payload: processUploadPayload,
  async run(p, { services }) {
    const sql = pgSql(services.pool);
    const [asset] = await sql<{
      id: number;
      storage_key: string;
      client_id: number;
      post_id: number | null;
      deliverable_id: number | null;
    }>('SELECT id, storage_key, client_id, post_id, deliverable_id FROM assets WHERE id = $1', [
      p.assetId,
    ]);
    if (!asset) throw new PermanentJobError(`Asset ${p.assetId} no longer exists`);
    const storage = await storageFor(services.config.storage);
    const hash = createHash('sha256');
    const head: Buffer[] = [];
    let headLength = 0;
    let size = 0;
    const markFailed = () =>
      sql(`UPDATE assets SET status = 'FAILED', updated_at = now() WHERE id = $1`, [asset.id]);
    try {
      for await (const buf of storage.read(asset.storage_key)) {
        hash.update(buf);
        size += buf.length;
        if (headLength < HEADER_BYTES) {
          head.push(buf.subarray(0, HEADER_BYTES - headLength));
          headLength += Math.min(buf.length, HEADER_BYTES - headLength);
        }
      }
    } catch (err) {
      if (!(err instanceof StoredFileMissing)) throw err;
      await markFailed();
      throw new PermanentJobError('The stored file is missing');
    }
    const header = Buffer.concat(head);
    const type = detectType(header);
    if (!type) {
      await markFailed();
      throw new PermanentJobError('The stored file is not of a supported type');
    }
    const dims = imageSize(header, type);
    const sha256 = hash.digest('hex');
    await sql(
      `UPDATE assets SET size_bytes = $2, sha256 = $3, content_type = $4, width = $5, height = $6,
         status = 'READY', updated_at = now() WHERE id = $1`,
      [asset.id, size, sha256, type, dims?.width ?? null, dims?.height ?? null],
    );
    await announceWrites(services, [{ typename: 'Asset', id: asset.id, states: [] }]);
    return {
      assetId: asset.id,
      sizeBytes: size,
      sha256,
      contentType: type,
      width: dims?.width ?? null,
      height: dims?.height ?? null,
    };
  },
});
