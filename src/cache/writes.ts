/**
 * Every write to domain data is announced here, by mutations and by background jobs alike,
 * so cached reads that could include it are invalidated on every instance.
 */
import type { Services } from '../context.ts';

export type WrittenType = 'Client' | 'Project' | 'Post' | 'Deliverable' | 'User' | 'BackgroundJob' | 'Asset';

export interface WriteEvent {
  typename: WrittenType;
  id: number;
  /** The client the row belongs to (before and after a move, both). */
  clientIds?: (number | null | undefined)[];
}

type Sink = (services: Services, events: WriteEvent[]) => Promise<void>;
const sinks: Sink[] = [];

/** Registers a consumer of write events (the response cache registers itself). */
export function onWrites(sink: Sink): void {
  sinks.push(sink);
}

/** Announces committed writes. Call after the transaction commits. */
export async function announceWrites(services: Services, events: WriteEvent[]): Promise<void> {
  if (events.length === 0) return;
  await Promise.all(sinks.map((s) => s(services, events)));
}
