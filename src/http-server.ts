/**
 * The node:http server in front of Yoga. It refuses requests whose Host header or target
 * cannot form a URL before Yoga sees them: Yoga's fetch adapter would build `new URL(...)`
 * from them, throw, and answer 500 with a stack trace in the body.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** A DNS name or IPv4 address, or a bracketed IPv6 address, with an optional port. */
const HOST = /^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

function badRequest(res: ServerResponse, message: string): void {
  const body = JSON.stringify({ errors: [{ message, extensions: { code: 'BAD_REQUEST' } }] });
  res.writeHead(400, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-content-type-options': 'nosniff',
    connection: 'close',
  });
  res.end(body);
}

/** Checks what Yoga needs to build the request URL; returns an error message or null. */
export function requestTargetProblem(req: IncomingMessage): string | null {
  const host = req.headers.host;
  if (host !== undefined && !HOST.test(host)) return 'The Host header is not a valid host';
  const target = req.url ?? '/';
  if (!target.startsWith('/')) return 'The request target must be a path';
  try {
    new URL(target, 'http://localhost');
  } catch {
    return 'The request target is not a valid URL path';
  }
  return null;
}

export interface RequestTiming {
  /** performance.now() when the request arrived, for the HTTP duration metric. */
  receivedAt: number;
}

/** Yoga's node request listener, which adds `req`, `res` and `timing` to the server context. */
export function nodeHandler(app: { yoga: unknown }) {
  return app.yoga as (req: IncomingMessage, res: ServerResponse, ctx: RequestTiming) => unknown;
}

/** An HTTP server that validates the request target, then hands the request to `handler`. */
export function createHttpServer(
  handler: (req: IncomingMessage, res: ServerResponse, ctx: RequestTiming) => unknown,
): Server {
  const server = createServer((req, res) => {
    const receivedAt = performance.now();
    const problem = requestTargetProblem(req);
    if (problem) {
      badRequest(res, problem);
      return;
    }
    // HTTP/1.0 clients may omit Host; the fetch adapter needs one to build the request URL.
    req.headers.host ??= 'localhost';
    return handler(req, res, { receivedAt });
  });
  // Longer than the idle timeout of common load balancers and HTTP clients (60 s), so the
  // server never closes a kept-alive connection a client is about to reuse.
  server.keepAliveTimeout = 65_000;
  return server;
}
