/**
 * Graceful drain of one API process (SIGTERM, see src/server.ts):
 *   1. `start()`: `/ready` answers 503 `{"status":"draining"}` so the load balancer's health
 *      check takes the instance out; requests are still served, each answered with
 *      `connection: close` so clients reconnect (elsewhere) instead of reusing the connection.
 *   2. after SHUTDOWN_DRAIN_MS the listener closes; `endStreams()` completes every open
 *      subscription stream (SSE ends with `event: complete`, multipart with its closing
 *      boundary), as if its source had finished, instead of resetting the connection.
 *   3. in-flight requests finish, then the process stops.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';

export class Drain {
  #draining = false;
  #streams = new AbortController();
  /** Responses not yet sent: told to close their connection once the drain starts. */
  #open = new Set<ServerResponse>();

  get draining(): boolean {
    return this.#draining;
  }

  start(): void {
    this.#draining = true;
    for (const res of this.#open) if (!res.headersSent) res.setHeader('connection', 'close');
  }

  /** Completes every subscription stream now (and any started later). */
  endStreams(): void {
    this.#streams.abort();
  }

  /** Wraps the node request handler: `connection: close` on every response during the drain. */
  handler<A extends unknown[]>(
    next: (req: IncomingMessage, res: ServerResponse, ...rest: A) => unknown,
  ) {
    return (req: IncomingMessage, res: ServerResponse, ...rest: A) => {
      if (this.#draining) res.setHeader('connection', 'close');
      else {
        this.#open.add(res);
        res.once('close', () => this.#open.delete(res));
      }
      return next(req, res, ...rest);
    };
  }

  /** Ends subscription results (the source iterator is returned) when endStreams() is called. */
  plugin(): Plugin {
    const signal = this.#streams.signal;
    return {
      onSubscribe() {
        return {
          onSubscribeResult({ result, setResult }) {
            if (isAsyncIterable(result)) setResult(untilAborted(result, signal));
          },
        };
      },
    };
  }
}

/** `source`'s items until `signal` aborts; then it completes (and returns the source). */
async function* untilAborted<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<{ done: true; value: undefined }>((resolve) => {
    onAbort = () => resolve({ done: true, value: undefined });
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    for (;;) {
      const next = await Promise.race([iterator.next(), aborted]);
      if (next.done) return;
      yield next.value;
    }
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
    // Not awaited: a generator busy in its own await finishes that step first.
    void Promise.resolve(iterator.return?.()).catch(() => {});
  }
}
