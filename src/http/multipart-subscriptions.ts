/**
 * Subscriptions over multipart HTTP, the protocol Apollo Client's `HttpLink` uses (and Apollo
 * Router serves): the request accepts `multipart/mixed;subscriptionSpec="1.0"`, the response
 * is one `multipart/mixed; boundary="graphql"` stream whose parts are JSON:
 *
 *   {"payload": {"data": ...}}                       each event (execution errors inside)
 *   {}                                               a heartbeat, every HEARTBEAT_MS
 *   {"payload": null, "errors": [...]}               the stream failed; it ends here
 *
 * Yoga serves subscriptions over SSE only (it answers 406 to this Accept header); this adds
 * the result processor for that media type. Everything before it — authentication, parsing,
 * validation, the resolver's own checks — is the same request pipeline SSE goes through.
 */
import { type ExecutionResult, GraphQLError } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';

const BOUNDARY = 'graphql';
const HEARTBEAT_MS = 10_000;

/** True when the Accept header names multipart/mixed with a `subscriptionSpec` parameter. */
export function acceptsMultipartSubscription(request: Request): boolean {
  const accept = request.headers.get('accept') ?? '';
  return accept
    .toLowerCase()
    .split(',')
    .some((type) => {
      const [media, ...params] = type.split(';').map((p) => p.trim());
      return media === 'multipart/mixed' && params.some((p) => p.startsWith('subscriptionspec='));
    });
}

/** Keeps what a client may see of an error: message, locations, path, extensions minus `http`. */
function publicErrors(errors: readonly unknown[] | undefined) {
  return (errors ?? []).map((e) => {
    const json = (
      typeof (e as { toJSON?: unknown }).toJSON === 'function'
        ? (e as { toJSON(): Record<string, unknown> }).toJSON()
        : { message: (e as { message?: string }).message }
    ) as { extensions?: Record<string, unknown> } & Record<string, unknown>;
    if (json.extensions) {
      const { http: _http, ...extensions } = json.extensions;
      json.extensions = Object.keys(extensions).length ? extensions : undefined;
    }
    return json;
  });
}

function part(body: unknown): string {
  return `\r\nContent-Type: application/json; charset=utf-8\r\n\r\n${JSON.stringify(body)}\r\n--${BOUNDARY}`;
}

function processMultipartSubscription(
  result: AsyncIterable<ExecutionResult>,
  fetchAPI: { Response: typeof Response; ReadableStream: typeof ReadableStream },
): Response {
  const encoder = new TextEncoder();
  const iterator = result[Symbol.asyncIterator]();
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let closed = false;
  const stream = new fetchAPI.ReadableStream<Uint8Array>({
    start(controller) {
      // The opening boundary goes out at once, so proxies and clients see the stream start.
      controller.enqueue(encoder.encode(`\r\n--${BOUNDARY}`));
      heartbeat = setInterval(() => {
        if (!closed && (controller.desiredSize ?? 0) > 0)
          controller.enqueue(encoder.encode(part({})));
      }, HEARTBEAT_MS);
      heartbeat.unref?.();
    },
    async pull(controller) {
      const finish = (last?: unknown) => {
        if (closed) return;
        closed = true;
        clearInterval(heartbeat);
        if (last !== undefined) controller.enqueue(encoder.encode(part(last)));
        controller.enqueue(encoder.encode('--\r\n'));
        controller.close();
      };
      try {
        const { done, value } = await iterator.next();
        if (done) return finish();
        const { errors, ...rest } = value;
        controller.enqueue(
          encoder.encode(
            part({ payload: errors?.length ? { ...rest, errors: publicErrors(errors) } : rest }),
          ),
        );
      } catch (err) {
        // Yoga turns resolver errors into events with `errors`; anything still thrown here is
        // unexpected: a transport error in Apollo's protocol (masked), after which it ends.
        const typed = err instanceof GraphQLError && typeof err.extensions?.code === 'string';
        finish({
          payload: null,
          errors: typed
            ? publicErrors([err])
            : [{ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } }],
        });
      }
    },
    async cancel() {
      closed = true;
      clearInterval(heartbeat);
      await iterator.return?.();
    },
  });
  return new fetchAPI.Response(stream, {
    status: 200,
    headers: {
      'content-type': `multipart/mixed; boundary="${BOUNDARY}"; subscriptionSpec="1.0"`,
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    },
  });
}

/** Serves subscription streams as Apollo multipart when the client asks for it. */
export function multipartSubscriptionsPlugin(): Plugin {
  return {
    onResultProcess({ request, result, setResultProcessor }) {
      if (isAsyncIterable(result) && acceptsMultipartSubscription(request)) {
        setResultProcessor(
          (r, fetchAPI) =>
            processMultipartSubscription(
              r as AsyncIterable<ExecutionResult>,
              fetchAPI as unknown as {
                Response: typeof Response;
                ReadableStream: typeof ReadableStream;
              },
            ),
          'multipart/mixed',
        );
      }
    },
  };
}
