/**
 * Trusted documents: the operations a client build produced, keyed by the id the client sends.
 * Read once at start-up from one or more JSON manifests, in any of these formats:
 *
 * - GraphQL Codegen client preset (`persisted-documents.json`) and Relay
 *   (`persisted_queries.json`): `{ "<id>": "<document>" }`.
 * - Apollo's persisted query manifest: `{ "format": "apollo-persisted-query-manifest",
 *   "version": 1, "operations": [{ "id", "body", ... }] }`.
 *
 * Every document must parse and validate against the schema: a manifest built from another
 * version of the API stops start-up instead of failing requests later.
 */
import { readFileSync } from 'node:fs';
import { type GraphQLSchema, parse, validate } from 'graphql';
import { ConfigError } from '../config.ts';

/** Ids: hex hashes in practice; anything else that is short and plain is accepted too. */
export const DOCUMENT_ID = /^[A-Za-z0-9_:.-]{1,128}$/;

export interface TrustedDocuments {
  /** By id, and codegen's `sha256:<hex>` ids also by bare hex. */
  byId: Map<string, string>;
  /** Operations in the manifests. */
  count: number;
}

export function loadTrustedDocuments(paths: string[], schema: GraphQLSchema): TrustedDocuments {
  const documents = new Map<string, string>();
  let count = 0;
  const problems: string[] = [];
  for (const file of paths) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      problems.push(`${file}: cannot be read as JSON (${(err as Error).message})`);
      continue;
    }
    const entries = manifestEntries(raw);
    if (!entries) {
      problems.push(
        `${file}: expected { "<id>": "<document>" } (GraphQL Codegen, Relay) or an Apollo persisted query manifest`,
      );
      continue;
    }
    for (const [id, body] of entries) {
      if (!DOCUMENT_ID.test(id)) {
        problems.push(`${file}: id "${id.slice(0, 40)}" is not 1-128 letters, digits or _:.-`);
        continue;
      }
      const existing = documents.get(id);
      if (existing !== undefined && existing !== body) {
        problems.push(`${file}: id ${id} names two different documents`);
        continue;
      }
      try {
        const errors = validate(schema, parse(body));
        if (errors.length) {
          problems.push(`${file}: document ${id} does not match the schema: ${errors[0]?.message}`);
          continue;
        }
      } catch (err) {
        problems.push(`${file}: document ${id} is not valid GraphQL: ${(err as Error).message}`);
        continue;
      }
      if (existing === undefined) count += 1;
      documents.set(id, body);
      // Codegen's `sha256:<hex>` ids are also found by the bare hex that APQ clients send.
      if (/^sha256:[0-9a-f]{64}$/.test(id)) documents.set(id.slice(7), body);
    }
  }
  if (problems.length) {
    const shown = problems.slice(0, 10).map((p) => `  TRUSTED_DOCUMENTS: ${p}`);
    if (problems.length > 10) shown.push(`  ... and ${problems.length - 10} more`);
    throw new ConfigError(`Invalid configuration:\n${shown.join('\n')}`);
  }
  return { byId: documents, count };
}

function manifestEntries(raw: unknown): [string, string][] | null {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return null;
  const record = raw as Record<string, unknown>;
  if (record.format === 'apollo-persisted-query-manifest' && Array.isArray(record.operations)) {
    const out: [string, string][] = [];
    for (const op of record.operations as { id?: unknown; body?: unknown }[]) {
      if (typeof op?.id !== 'string' || typeof op.body !== 'string') return null;
      out.push([op.id, op.body]);
    }
    return out;
  }
  const out = Object.entries(record);
  return out.every((e): e is [string, string] => typeof e[1] === 'string') ? out : null;
}
