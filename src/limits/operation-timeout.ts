/**
 * Bounds how long a query or mutation may run (OPERATION_TIMEOUT_MS). When the time is up
 * the client gets an `OPERATION_TIMEOUT` error at once, the operation's running SQL is
 * cancelled, its connections are released (and discarded) and any SQL it still tries is
 * refused (db/request-connections.ts). Subscriptions are long-lived and not bounded here.
 *
 * Cost on the hot path: none for an execution that completes synchronously (`{ __typename }`);
 * otherwise one timer and one promise per operation.
 */
import { type ExecutionResult, GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { QueryLog } from '../db/query-log.ts';
import { abortRequestSql } from '../db/request-connections.ts';
import type { RequestLogger } from '../observability/logger.ts';
import { fmt } from './query-limits.ts';

export function operationTimeout(limitMs: number): GraphQLError {
  return new GraphQLError(
    `The operation did not finish within ${fmt(limitMs)} ms and was cancelled. ` +
      'Ask for less (smaller pages, fewer fields) or narrow the filters, then retry.',
    { extensions: { code: 'OPERATION_TIMEOUT', limit: limitMs } },
  );
}

const isPromise = (v: unknown): v is PromiseLike<unknown> =>
  typeof (v as { then?: unknown } | null)?.then === 'function';

interface TimeoutContext {
  queryLog?: QueryLog;
  log?: RequestLogger;
}

/**
 * Must sit after the plugin that puts the request's query log in the context (`sqlAttribution`
 * in app.ts), so the log exists when this wraps execution.
 */
export function operationTimeoutPlugin(limitMs: number): Plugin {
  if (limitMs <= 0) return {};
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      const ctx = args.contextValue as TimeoutContext;
      setExecuteFn((execArgs) => {
        const running = executeFn(execArgs);
        if (!isPromise(running)) return running;
        return new Promise<ExecutionResult>((resolve, reject) => {
          let finished = false;
          const timer = setTimeout(() => {
            if (finished) return;
            finished = true;
            const error = operationTimeout(limitMs);
            if (ctx.queryLog) abortRequestSql(ctx.queryLog, error);
            ctx.log?.warn(
              { timeoutMs: limitMs, statements: ctx.queryLog?.count },
              'operation timed out; its SQL was cancelled',
            );
            resolve({ errors: [error] });
          }, limitMs);
          running.then(
            (result) => {
              clearTimeout(timer);
              if (finished) return;
              finished = true;
              resolve(result as ExecutionResult);
            },
            (err: unknown) => {
              clearTimeout(timer);
              if (finished) return;
              finished = true;
              reject(err);
            },
          );
        });
      });
    },
  };
}
