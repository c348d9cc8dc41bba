/**
 * Per-request record of the SQL statements that ran, kept in AsyncLocalStorage so the
 * pg client can attribute each statement to the GraphQL request that caused it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { RequestConnections } from './request-connections.ts';

export interface StatementRecord {
  sql: string;
  /** Wall time: sent → result handled, including any wait for a busy event loop. */
  durationMs: number;
  /** Of durationMs, the time the result waited for a stalled event loop (loop-wait.ts). */
  loopWaitMs: number;
  rows: number;
  error?: string;
}

export interface QueryLog {
  statements: StatementRecord[];
  /** Keep statement text (profiles); off in the hot path, where only counts are needed. */
  keepText: boolean;
  count: number;
  /** Wall time of the statements. */
  totalMs: number;
  /** Database time of the statements: wall time less the waits for the event loop. */
  dbMs: number;
  /** The connections the request holds (set by the pool on its first checkout). */
  connections?: RequestConnections;
  /** Set when the operation ran out of time: its further SQL is refused with this error. */
  aborted?: Error;
}

const storage = new AsyncLocalStorage<QueryLog>();

export function newQueryLog(keepText = false): QueryLog {
  return { statements: [], keepText, count: 0, totalMs: 0, dbMs: 0 };
}

export function runWithQueryLog<T>(log: QueryLog, fn: () => T): T {
  return storage.run(log, fn);
}

export function currentQueryLog(): QueryLog | undefined {
  return storage.getStore();
}

type Listener = (record: StatementRecord, log: QueryLog | undefined) => void;
const listeners: Listener[] = [];

/** Called for every statement any pool runs (metrics, slow-query log). */
export function onStatement(listener: Listener): () => void {
  listeners.push(listener);
  return () => {
    const i = listeners.indexOf(listener);
    if (i >= 0) listeners.splice(i, 1);
  };
}

export function recordStatement(log: QueryLog | undefined, record: StatementRecord): void {
  if (log) {
    log.count += 1;
    log.totalMs += record.durationMs;
    log.dbMs += record.durationMs - record.loopWaitMs;
    if (log.keepText) log.statements.push(record);
  }
  for (const l of listeners) l(record, log);
}
