/**
 * HTTP-level protections that run before GraphQL does anything with a request (README.md,
 * "Security"): request bodies bounded while they stream, uploads refused before their body is
 * read unless the caller may upload, and the standard security headers on every response.
 */
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { viewerForRequest } from '../auth/request-auth.ts';
import { STAFF } from '../auth/rules.ts';

export interface BodyLimits {
  /** Largest JSON / GraphQL / form-encoded body, in bytes. */
  jsonBytes: number;
  /** Largest multipart (upload) body, in bytes: the file limit plus room for the other parts. */
  multipartBytes: number;
}

const isMultipart = (request: Request) =>
  request.method === 'POST' &&
  (request.headers.get('content-type') ?? '').toLowerCase().startsWith('multipart/form-data');

/** Refused bodies up to this size are read and discarded rather than cut off with the connection. */
const DRAIN_REFUSED_BYTES = 64 * 1024;

function jsonError(
  status: number,
  code: string,
  message: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Response {
  return Response.json(
    { errors: [{ message, extensions: { code, ...extra } }] },
    // The body that was not read is dropped with the connection, not drained.
    { status, headers: { connection: 'close', ...headers } },
  );
}

/**
 * A refusal of a request whose body was not read. A small body with a declared length is left
 * for node:http to read and discard, so a client still writing it reads the answer instead of
 * a broken pipe and may keep its connection; any other body is cut off with the connection.
 */
function refuseUnread(request: Request, status: number, code: string, message: string): Response {
  const length = request.headers.get('content-length');
  const small = length !== null && /^\d+$/.test(length) && Number(length) <= DRAIN_REFUSED_BYTES;
  if (!small) return jsonError(status, code, message);
  return Response.json({ errors: [{ message, extensions: { code } }] }, { status });
}

function tooLarge(limit: number): Response {
  return jsonError(
    413,
    'REQUEST_ENTITY_TOO_LARGE',
    `The request body is larger than ${limit} bytes`,
    {
      limit,
    },
  );
}

/**
 * A body counted while it streams: past `limit` bytes the stream fails, so the parser stops
 * and memory never holds more than the limit.
 */
function limitedRequest(
  request: Request,
  limit: number,
  fetchAPI: FetchAPI,
): { request: Request; exceeded: () => boolean } {
  let seen = 0;
  const exceeded = () => seen > limit;
  const body = request.body;
  if (!body) return { request, exceeded };
  // A body from node:http is whatwg-node's stream, one from `yoga.fetch` the native one;
  // each pipes only into a TransformStream of its own kind (as Yoga's own limiter does).
  const Transform =
    body instanceof ReadableStream ? globalThis.TransformStream : fetchAPI.TransformStream;
  const counted = body.pipeThrough(
    new Transform<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.byteLength;
        if (seen > limit) {
          controller.error(new BodyTooLarge(limit));
          return;
        }
        controller.enqueue(chunk);
      },
    }),
  );
  const limited = new fetchAPI.Request(request.url, {
    method: request.method,
    headers: request.headers,
    signal: request.signal,
    body: counted,
    // @ts-expect-error RequestInit needs duplex for a streamed body
    duplex: 'half',
  });
  return { request: limited, exceeded };
}

type FetchAPI = { Request: typeof Request; TransformStream: typeof TransformStream };

class BodyTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`The request body is larger than ${limit} bytes`);
  }
}

/**
 * Body size limits by kind of request, decided from `content-length` before a byte is read and
 * enforced again while the body streams (chunked requests have no length). Multipart requests
 * are also refused here before their body is read unless the verified caller may upload
 * (staff): an anonymous 20 MB upload costs a header check, not 20 MB of parsing.
 */
export function requestBodyPlugin(limits: BodyLimits): Plugin {
  return {
    onRequest({ request, endResponse }) {
      if (request.method !== 'POST') return;
      const multipart = isMultipart(request);
      // Who may upload is decided first: an anonymous or CLIENT upload is refused on its
      // headers, whatever its size.
      if (multipart) {
        const viewer = viewerForRequest(request);
        if (!viewer) {
          endResponse(
            refuseUnread(
              request,
              401,
              'UNAUTHENTICATED',
              'Sign in first: uploads need `Authorization: Bearer <token>`',
            ),
          );
          return;
        }
        if (!STAFF.includes(viewer.role)) {
          endResponse(
            refuseUnread(
              request,
              403,
              'FORBIDDEN',
              `Your role (${viewer.role}) may not upload files`,
            ),
          );
          return;
        }
      }
      const limit = multipart ? limits.multipartBytes : limits.jsonBytes;
      const length = request.headers.get('content-length');
      if (length !== null && (!/^\d+$/.test(length) || Number(length) > limit)) {
        endResponse(
          /^\d+$/.test(length)
            ? tooLarge(limit)
            : jsonError(400, 'BAD_REQUEST', 'The Content-Length header is invalid'),
        );
      }
    },
    onRequestParse({ request, requestParser, setRequestParser, fetchAPI }) {
      if (!requestParser || !request.body) return;
      // With a Content-Length (checked in onRequest) Node's parser delivers exactly that many
      // bytes: only bodies without one (chunked) need counting while they stream.
      if (request.headers.get('content-length') !== null) return;
      const limit = isMultipart(request) ? limits.multipartBytes : limits.jsonBytes;
      setRequestParser(async (req) => {
        const limited = limitedRequest(req, limit, fetchAPI as FetchAPI);
        try {
          return await requestParser(limited.request);
        } catch (err) {
          // The parsers wrap the stream's error in messages of their own; the count decides.
          if (limited.exceeded()) {
            throw new GraphQLError(`The request body is larger than ${limit} bytes`, {
              extensions: {
                code: 'REQUEST_ENTITY_TOO_LARGE',
                limit,
                http: { status: 413, headers: { connection: 'close' } },
              },
            });
          }
          throw err;
        }
      });
    },
  };
}

export interface HeaderSettings {
  /** `Strict-Transport-Security` max-age in seconds (0: not sent). */
  hstsMaxAgeS: number;
}

/**
 * Standard security headers on every response (OWASP's secure-headers list for an API):
 * no MIME sniffing, no framing, no referrer, same-origin resource policy, HSTS when configured.
 */
export function securityHeadersPlugin(settings: HeaderSettings): Plugin {
  const hsts =
    settings.hstsMaxAgeS > 0 ? `max-age=${settings.hstsMaxAgeS}; includeSubDomains` : null;
  return {
    onResponse({ response }) {
      const h = response.headers;
      h.set('x-content-type-options', 'nosniff');
      h.set('x-frame-options', 'DENY');
      h.set('referrer-policy', 'no-referrer');
      h.set('cross-origin-resource-policy', 'same-origin');
      if (!h.has('content-security-policy')) {
        h.set('content-security-policy', "frame-ancestors 'none'");
      }
      if (hsts) h.set('strict-transport-security', hsts);
    },
  };
}
