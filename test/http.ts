/**
 * Real HTTP for tests, through Postline's own node:http front (src/http-server.ts): a server in
 * front of a test app, a fetch that records what a client library sent, and a Redis probe.
 */
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import type { App } from '../src/app.ts';
import { createHttpServer, nodeHandler } from '../src/http-server.ts';
import type { TestApp } from './harness.ts';

export interface Listening {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  port: number;
  close(): Promise<void>;
}

export async function listen(t: TestApp): Promise<Listening> {
  const server = createHttpServer(nodeHandler(t.app));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  afterAll(close);
  return { origin: `http://127.0.0.1:${port}`, port, close };
}

export interface Served {
  /** e.g. http://127.0.0.1:40123/graphql */
  url: string;
  origin: string;
  close(): Promise<void>;
}

/** Like `listen`, for an app a test creates itself (the test closes it, in any order). */
export async function serve(app: App): Promise<Served> {
  const server = createHttpServer(nodeHandler(app));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    url: `${origin}/graphql`,
    origin,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface Exchange {
  method: string;
  /** The query text was sent (body or URL). */
  sentQuery: boolean;
  /** `extensions.persistedQuery.sha256Hash` was sent. */
  sentHash: boolean;
  status: number;
  /** `errors[].extensions.code` of a JSON response (read from a clone). */
  codes: string[];
}

/** A fetch that records every request a client library makes, for assertions. */
export function recordingFetch(log: Exchange[]): typeof fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const body = request.method === 'POST' ? await request.clone().text() : '';
    let parsed: { query?: unknown; extensions?: { persistedQuery?: unknown } } = {};
    try {
      parsed = body ? JSON.parse(body) : {};
    } catch {}
    const extensions = url.searchParams.get('extensions');
    const response = await fetch(request);
    const exchange: Exchange = {
      method: request.method,
      sentQuery: typeof parsed.query === 'string' || url.searchParams.has('query'),
      sentHash: !!parsed.extensions?.persistedQuery || !!extensions?.includes('sha256Hash'),
      status: response.status,
      codes: [],
    };
    if (/json/.test(response.headers.get('content-type') ?? '')) {
      const json = (await response.clone().json()) as {
        errors?: { extensions?: { code?: string } }[];
      };
      exchange.codes = (json.errors ?? []).map((e) => e.extensions?.code ?? '');
    }
    log.push(exchange);
    return response;
  };
}

export const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** True when Redis answers at REDIS_URL (tests that need it skip, saying why, otherwise). */
export async function redisAnswers(what: string): Promise<boolean> {
  const r = new Redis(redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    process.stdout.write(`Skipping ${what}: no Redis answers at ${redisUrl}\n`);
    return false;
  } finally {
    r.disconnect();
  }
}

/** A GraphQL response body as tests read it. */
// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary response shapes
export type JsonBody = Record<string, any>;
