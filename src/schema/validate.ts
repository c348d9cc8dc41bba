/** Small input checks that fail with BAD_USER_INPUT naming the field. */
import { decodeGlobalId } from '../builder.ts';
import { badInput } from '../errors.ts';

export function text(
  field: string,
  value: string,
  { min = 1, max }: { min?: number; max: number },
): string {
  const v = value.trim();
  if (v.length < min) throw badInput(field, `\`${field}\` must not be empty`);
  if (v.length > max) throw badInput(field, `\`${field}\` must be at most ${max} characters`);
  return v;
}

/** Decodes a global ID and checks it names the expected type. */
export function idOf(field: string, globalId: string, typename: string): number {
  const decoded = decodeGlobalId(globalId, field);
  if (decoded.typename !== typename) {
    throw badInput(
      field,
      `\`${field}\` must be the ID of a ${typename}, not a ${decoded.typename}`,
    );
  }
  return Number(decoded.id);
}

export function optionalId(
  field: string,
  globalId: string | null | undefined,
  typename: string,
): number | undefined {
  return globalId == null ? undefined : idOf(field, globalId, typename);
}

export function tags(field: string, values: string[]): string[] {
  if (values.length > 30) throw badInput(field, `\`${field}\` may hold at most 30 tags`);
  return [...new Set(values.map((t) => text(field, t, { max: 50 }).toLowerCase()))];
}

export function dateOrder(field: string, start: Date | null, due: Date | null): void {
  if (start && due && due < start) {
    throw badInput(field, `\`${field}\` must not be before startDate`);
  }
}

/** Rejects a status change the workflow does not allow. */
export function transition<S extends string>(
  field: string,
  from: S,
  to: S,
  allowed: Record<S, readonly S[]>,
): void {
  if (from !== to && !allowed[from].includes(to)) {
    throw badInput(field, `\`${field}\` cannot change from ${from} to ${to}`);
  }
}

/** Escapes LIKE wildcards so user text matches literally. */
export function likePattern(search: string): string {
  return `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
