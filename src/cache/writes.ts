/**
 * Every write to domain data is announced here — by mutations and by background jobs alike —
 * after it commits, so cached responses that could include it are invalidated everywhere.
 *
 * An event names the row and its list partition before and after the write (tags.ts): a
 * create has only `after`, a delete only `before`, a move or status change both.
 */
import { encodeGlobalId } from '../global-id.ts';
import type { Dim } from './tags.ts';
import { entityTag, tagsForState } from './tags.ts';

export type WrittenType =
  | 'Client'
  | 'Project'
  | 'Post'
  | 'Deliverable'
  | 'User'
  | 'BackgroundJob'
  | 'Asset';

export interface WriteEvent {
  typename: WrittenType;
  id: number;
  /** Partition dimensions of the row before and/or after the write (c, pr, s, p). */
  states: Record<string, Dim>[];
  /**
   * Posts only, for an update: the sort keys whose value changed (`TITLE`, `SCHEDULED_AT`;
   * `UPDATED_AT` always does). Lists in the same partition ordered by another key keep their
   * membership and order, so they stay cached (those containing the post are cleared by its
   * own tag). Omitted: every order is affected.
   */
  orders?: string[];
}

const POST_ORDERS = ['CREATED_AT', 'UPDATED_AT', 'SCHEDULED_AT', 'TITLE'];
const DIMENSIONS = ['c', 'pr', 's', 'p'];
const samePartition = (a?: Record<string, Dim>, b?: Record<string, Dim>) =>
  !!a && !!b && DIMENSIONS.every((d) => (a[d] ?? null) === (b[d] ?? null));

/** Anything that can clear cached responses: the API's response cache, or a worker's notifier. */
export interface CacheInvalidator {
  invalidate(tags: Iterable<string>): Promise<void>;
}

/** The tags a set of writes clears: the rows themselves, their lists, and dashboards. */
export function tagsForWrites(events: WriteEvent[]): string[] {
  const tags = new Set<string>();
  for (const e of events) {
    // The response cache tags entries by the `id` clients see: the global ID.
    tags.add(entityTag(e.typename, encodeGlobalId(e.typename, e.id)));
    const inPlace =
      e.typename === 'Post' &&
      e.orders !== undefined &&
      e.states.length === 2 &&
      samePartition(e.states[0], e.states[1]);
    const orders = inPlace ? ['UPDATED_AT', ...(e.orders ?? [])] : POST_ORDERS;
    // Counts change only when a row enters or leaves a partition (or its schedule moves).
    const countsChange = !inPlace || (e.orders ?? []).includes('SCHEDULED_AT');
    for (const state of e.states) {
      const full = e.typename === 'Post' ? { ...state, o: orders } : state;
      for (const t of tagsForState(e.typename, full)) tags.add(t);
      const counted =
        e.typename === 'Post' || e.typename === 'Project' || e.typename === 'Deliverable';
      if (counted && countsChange) {
        for (const t of tagsForState('Dashboard', { c: state.c })) tags.add(t);
      }
    }
  }
  return [...tags];
}

/** Announces committed writes. No-op when the process runs without a response cache. */
export async function announceWrites(
  services: { cache?: CacheInvalidator | null },
  events: WriteEvent[],
): Promise<void> {
  if (events.length === 0 || !services.cache) return;
  await services.cache.invalidate(tagsForWrites(events));
}

/** A post's partition. */
export const postState = (p: {
  clientId: number;
  projectId: number;
  status: string;
  platform: string;
}) => ({
  c: p.clientId,
  pr: p.projectId,
  s: p.status,
  p: p.platform,
});
export const projectState = (p: { clientId: number; status: string }) => ({
  c: p.clientId,
  s: p.status,
});
export const deliverableState = (d: { clientId: number; projectId: number; status: string }) => ({
  c: d.clientId,
  pr: d.projectId,
  s: d.status,
});
