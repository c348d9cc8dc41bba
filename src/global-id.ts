/**
 * Opaque global IDs: base64url of `Type:id`. Plain functions so that code outside the schema
 * (the response cache, jobs, benchmarks) can name objects exactly as clients see them.
 */
export function encodeGlobalId(typename: string, id: string | number | bigint): string {
  return Buffer.from(`${typename}:${id}`).toString('base64url');
}
