/**
 * Persisted operations with the real client libraries over HTTP: Apollo Client's
 * PersistedQueryLink and urql's persistedExchange (hash miss → register → hash hit, GET and
 * POST), the store's bounds, Redis shared by two instances, the response cache and
 * authorization of hash-only requests, and trusted documents.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApolloClient, ApolloLink, gql, HttpLink, InMemoryCache } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { Client, fetchExchange } from '@urql/core';
import { persistedExchange } from '@urql/exchange-persisted';
import { print } from 'graphql';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';
import { RedisDocumentStore } from '../src/persisted/store.ts';
import { ADMIN, CLIENT1 } from './fixtures.ts';
import { cloneTemplate, createTestApp, type TestApp, useTestApp } from './harness.ts';
import {
  type Exchange,
  type JsonBody,
  recordingFetch,
  redisAnswers,
  redisUrl,
  serve,
} from './http.ts';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const md5 = (text: string) => createHash('md5').update(text).digest('hex');

// Every selection carries __typename already, so the text Apollo sends (it adds __typename)
// is exactly print(FEED): the hash a manifest holds for it is the one Apollo computes.
const FEED = gql`
  query Feed {
    posts(first: 3, orderBy: { field: TITLE, direction: ASC }) {
      __typename
      edges {
        __typename
        node {
          __typename
          id
          title
          project {
            __typename
            id
            client {
              __typename
              id
              name
            }
          }
        }
      }
    }
  }
`;
const FEED_TEXT = print(FEED);

function apolloClient(
  url: string,
  log: Exchange[],
  opts: { token?: string; get?: boolean } = {},
): ApolloClient {
  const http = new HttpLink({
    uri: url,
    fetch: recordingFetch(log),
    headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
  });
  return new ApolloClient({
    cache: new InMemoryCache(),
    link: ApolloLink.from([
      new PersistedQueryLink({ sha256, useGETForHashedQueries: opts.get ?? false }),
      http,
    ]),
  });
}

function urqlClient(url: string, log: Exchange[], token: string, get: boolean): Client {
  return new Client({
    url,
    fetch: recordingFetch(log),
    // GETs carry a CSRF-prevention header (urql sends no content-type on GET).
    fetchOptions: { headers: { authorization: `Bearer ${token}`, 'x-graphql-yoga-csrf': '1' } },
    exchanges: [
      persistedExchange({
        preferGetForPersistedQueries: get,
        generateHash: async (query) => sha256(query),
      }),
      fetchExchange,
    ],
  });
}

/** A hash-only request as Apollo sends it, without a client library (status and body). */
async function hashOnly(
  url: string,
  query: string,
  opts: { token?: string; variables?: Record<string, unknown> } = {},
) {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
    },
    body: JSON.stringify({
      variables: opts.variables ?? {},
      extensions: { persistedQuery: { version: 1, sha256Hash: sha256(query) } },
    }),
  });
  return { status: res.status, body: (await res.json()) as JsonBody };
}

const summary = (log: Exchange[]) =>
  log.map((e) => `${e.method} ${e.sentQuery ? 'query+' : ''}${e.sentHash ? 'hash' : ''}`);

const t = await useTestApp({ RESPONSE_CACHE: 'memory' });
const http = await serve(t.app);
afterAll(() => http.close());
const adminToken = await t.tokenFor(ADMIN);
const client1Token = await t.tokenFor(CLIENT1);
const fullFeed = (await t.gql(FEED_TEXT, {}, { as: ADMIN })).data;

describe('automatic persisted queries with Apollo Client', () => {
  it('GET: hash miss, then the full query registers it, then other clients hit with the hash alone', async () => {
    const app = await createTestApp({ RESPONSE_CACHE: 'off' }, { url: t.url });
    const server = await serve(app.app);
    try {
      const first: Exchange[] = [];
      const a = await apolloClient(server.url, first, { token: adminToken, get: true }).query({
        query: FEED,
      });
      expect(a.data).toEqual(fullFeed);
      expect(summary(first)).toEqual(['GET hash', 'POST query+hash']);
      expect(first[0]?.codes).toEqual(['PERSISTED_QUERY_NOT_FOUND']);

      const second: Exchange[] = [];
      const b = await apolloClient(server.url, second, { token: adminToken, get: true }).query({
        query: FEED,
      });
      expect(b.data).toEqual(fullFeed);
      expect(summary(second)).toEqual(['GET hash']);
      expect(second[0]?.status).toBe(200);
    } finally {
      await server.close();
      await app.close();
    }
  });

  it('POST: hash miss, register, hash hit', async () => {
    const app = await createTestApp({}, { url: t.url });
    const server = await serve(app.app);
    try {
      const first: Exchange[] = [];
      await apolloClient(server.url, first, { token: adminToken }).query({ query: FEED });
      expect(summary(first)).toEqual(['POST hash', 'POST query+hash']);
      const second: Exchange[] = [];
      const b = await apolloClient(server.url, second, { token: adminToken }).query({
        query: FEED,
      });
      expect(b.data).toEqual(fullFeed);
      expect(summary(second)).toEqual(['POST hash']);
    } finally {
      await server.close();
      await app.close();
    }
  });

  it('with APQ off the server says PersistedQueryNotSupported and Apollo stops sending hashes', async () => {
    const app = await createTestApp({ APQ: 'false' }, { url: t.url });
    const server = await serve(app.app);
    try {
      const log: Exchange[] = [];
      const client = apolloClient(server.url, log, { token: adminToken });
      expect((await client.query({ query: FEED })).data).toEqual(fullFeed);
      await client.query({ query: FEED, fetchPolicy: 'network-only' });
      expect(summary(log)).toEqual(['POST hash', 'POST query+', 'POST query+']);
      expect(log[0]?.codes).toEqual(['PERSISTED_QUERY_NOT_SUPPORTED']);
    } finally {
      await server.close();
      await app.close();
    }
  });
});

describe('automatic persisted queries with urql', () => {
  for (const get of [true, false]) {
    it(`${get ? 'GET' : 'POST'}: hash miss, register, hash hit`, async () => {
      const app = await createTestApp({}, { url: t.url });
      const server = await serve(app.app);
      try {
        const query = `query UrqlFeed${get ? 'Get' : 'Post'} { posts(first: 2) { edges { node { id title } } } }`;
        const first: Exchange[] = [];
        const a = await urqlClient(server.url, first, adminToken, get).query(query, {}).toPromise();
        expect(a.error).toBeUndefined();
        expect(a.data.posts.edges).toHaveLength(2);
        const method = get ? 'GET' : 'POST';
        // urql sends the registering request by GET too while the URL stays short.
        expect(summary(first)).toEqual([`${method} hash`, `${method} query+hash`]);
        const second: Exchange[] = [];
        const b = await urqlClient(server.url, second, adminToken, get)
          .query(query, {})
          .toPromise();
        expect(b.data).toEqual(a.data);
        expect(summary(second)).toEqual([`${method} hash`]);
      } finally {
        await server.close();
        await app.close();
      }
    });
  }
});

describe('hash-only requests go through the response cache and authorization like full queries', () => {
  const query = `query CachedFeed { posts(first: 5, orderBy: { field: TITLE, direction: ASC }) { edges { node { id title project { client { name } } } } } }`;

  it('shares the cache entry of the full query, per visibility scope', async () => {
    const full = await t.gql(query, {}, { as: ADMIN });
    expect(full.extensions?.responseCache).toMatchObject({ hit: false, didCache: true });
    // Register through the protocol, then hash-only: the full query's entry answers.
    const miss = await hashOnly(http.url, query, { token: adminToken });
    expect(miss.body.errors?.[0]?.message).toBe('PersistedQueryNotFound');
    await fetch(http.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({
        query,
        extensions: { persistedQuery: { version: 1, sha256Hash: sha256(query) } },
      }),
    });
    const hit = await hashOnly(http.url, query, { token: adminToken });
    expect(hit.body.data).toEqual(full.data);
    expect(hit.body.extensions?.responseCache).toMatchObject({ hit: true });

    // A client user sending the same hash gets its own client's posts, never the staff entry.
    const mine = await hashOnly(http.url, query, { token: client1Token });
    const clientFull = await t.gql(query, {}, { as: CLIENT1 });
    expect(mine.body.data).toEqual(clientFull.data);
    expect(mine.body.data).not.toEqual(full.data);
    const names = new Set(
      mine.body.data.posts.edges.map(
        (e: { node: { project: { client: { name: string } } } }) => e.node.project.client.name,
      ),
    );
    expect(names.size).toBe(1);
  });

  it('refuses an invalid token and an anonymous caller exactly as for the full query', async () => {
    const forged = await hashOnly(http.url, query, { token: `${adminToken.slice(0, -4)}AAAA` });
    expect(forged.status).toBe(401);
    expect(forged.body.data ?? null).toBeNull();
    expect(forged.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    const anonymous = await hashOnly(http.url, query);
    expect(anonymous.body.data ?? null).toBeNull();
    expect(anonymous.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });
});

describe('registration rules', () => {
  const register = (url: string, query: string, hash = sha256(query)) =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({
        query,
        extensions: { persistedQuery: { version: 1, sha256Hash: hash } },
      }),
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as JsonBody }));

  it('refuses a hash that is not the SHA-256 of the query, and a malformed hash', async () => {
    const wrong = await register(http.url, '{ viewer { id } }', sha256('{ viewer { name } }'));
    expect(wrong.status).toBe(400);
    expect(wrong.body.errors[0].extensions).toMatchObject({
      code: 'BAD_REQUEST',
      field: 'extensions.persistedQuery.sha256Hash',
    });
    const malformed = await register(http.url, '{ viewer { id } }', 'not-a-hash');
    expect(malformed.status).toBe(400);
    expect(malformed.body.errors[0].extensions.field).toBe('extensions.persistedQuery.sha256Hash');
  });

  it('keeps only documents that validate, and none above APQ_MAX_DOCUMENT_BYTES', async () => {
    const app = await createTestApp({ APQ_MAX_DOCUMENT_BYTES: '300' }, { url: t.url });
    const server = await serve(app.app);
    try {
      const invalid = '{ posts(first: 1) { edges { node { noSuchField } } } }';
      expect((await register(server.url, invalid)).body.errors[0].extensions.code).toBe(
        'GRAPHQL_VALIDATION_FAILED',
      );
      expect(
        (await hashOnly(server.url, invalid, { token: adminToken })).body.errors[0].message,
      ).toBe('PersistedQueryNotFound');
      const big = `{ viewer { id ${'name '.repeat(60)} } }`;
      expect((await register(server.url, big)).body.data.viewer.id).toEqual(expect.any(String));
      expect((await hashOnly(server.url, big, { token: adminToken })).body.errors[0].message).toBe(
        'PersistedQueryNotFound',
      );
      const small = '{ viewer { id } }';
      await register(server.url, small);
      expect(
        (await hashOnly(server.url, small, { token: adminToken })).body.data.viewer.id,
      ).toEqual(expect.any(String));
    } finally {
      await server.close();
      await app.close();
    }
  });

  it('the in-memory store keeps at most APQ_MAX_ENTRIES, dropping the least recently used', async () => {
    const app = await createTestApp({ APQ_MAX_ENTRIES: '2' }, { url: t.url });
    const server = await serve(app.app);
    try {
      const docs = ['{ viewer { id } }', '{ viewer { name } }', '{ viewer { role } }'];
      await register(server.url, docs[0]!);
      await register(server.url, docs[1]!);
      await hashOnly(server.url, docs[0]!, { token: adminToken }); // used: docs[1] is now oldest
      await register(server.url, docs[2]!);
      const found = async (d: string) =>
        (await hashOnly(server.url, d, { token: adminToken })).body.errors === undefined;
      expect([await found(docs[0]!), await found(docs[1]!), await found(docs[2]!)]).toEqual([
        true,
        false,
        true,
      ]);
    } finally {
      await server.close();
      await app.close();
    }
  });
});

const redisUp = await redisAnswers('the Redis persisted-query tests');

describe.skipIf(!redisUp)('Redis store', () => {
  it('is shared: a query registered on one instance is a hit on another', async () => {
    const prefix = `postline:test:apq:${Date.now()}:${Math.random().toString(36).slice(2)}:`;
    const env = { REDIS_URL: redisUrl, APQ_REDIS_PREFIX: prefix };
    const url = await cloneTemplate('apq');
    const a = await createTestApp(env, { url });
    const b = await createTestApp(env, { url });
    const sa = await serve(a.app);
    const sb = await serve(b.app);
    try {
      expect(a.app.persisted.store?.kind).toBe('redis');
      const onA: Exchange[] = [];
      await apolloClient(sa.url, onA, { token: adminToken, get: true }).query({ query: FEED });
      expect(summary(onA)).toEqual(['GET hash', 'POST query+hash']);
      const onB: Exchange[] = [];
      const res = await apolloClient(sb.url, onB, { token: adminToken, get: true }).query({
        query: FEED,
      });
      expect(summary(onB)).toEqual(['GET hash']);
      expect(res.data).toEqual(fullFeed);
    } finally {
      await sa.close();
      await sb.close();
      await a.close();
      await b.close();
      const r = new Redis(redisUrl);
      const keys = await r.keys(`${prefix}*`);
      if (keys.length) await r.del(...keys);
      await r.quit();
    }
  });

  it('stays within its entry and byte bounds, evicting the least recently used', async () => {
    const prefix = `postline:test:apq:${Date.now()}:${Math.random().toString(36).slice(2)}:`;
    const store = new RedisDocumentStore(redisUrl, prefix, {
      maxEntries: 3,
      maxBytes: 10_000,
      ttlMs: 60_000,
    });
    const r = new Redis(redisUrl);
    try {
      const hash = (i: number) => sha256(`doc ${i}`);
      for (let i = 0; i < 3; i++) await store.set(hash(i), `{ d${i} }`);
      expect(await store.get(hash(0))).toBe('{ d0 }'); // 1 is now least recently used
      await store.set(hash(3), '{ d3 }');
      await store.set(hash(4), '{ d4 }');
      expect(await store.get(hash(1))).toBeUndefined();
      expect(await store.get(hash(2))).toBeUndefined();
      expect(await store.get(hash(0))).toBe('{ d0 }');
      expect(await r.zcard(`${prefix}i`)).toBe(3);
      expect((await r.keys(`${prefix}d:*`)).length).toBe(3);
      // Bytes: one big entry pushes out as many as needed.
      await store.set(sha256('big'), 'x'.repeat(9_900));
      expect(await r.zcard(`${prefix}i`)).toBe(1);
      expect(Number(await r.get(`${prefix}b`))).toBeLessThanOrEqual(10_000);
    } finally {
      await store.close();
      const keys = await r.keys(`${prefix}*`);
      if (keys.length) await r.del(...keys);
      await r.quit();
    }
  });
});

describe('trusted documents', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'postline-trusted-'));
  const VIEWER = 'query Me { viewer { __typename id name } }';
  // GraphQL Codegen's client preset: sha256 keys. Relay: md5 keys, sent as `documentId`.
  const codegen = path.join(dir, 'persisted-documents.json');
  writeFileSync(codegen, JSON.stringify({ [sha256(FEED_TEXT)]: FEED_TEXT }));
  const relay = path.join(dir, 'persisted_queries.json');
  writeFileSync(relay, JSON.stringify({ [md5(VIEWER)]: VIEWER }));

  let app: TestApp;
  let server: Awaited<ReturnType<typeof serve>>;

  it('in production, runs the manifest operations by id and refuses anything else', async () => {
    app = await createTestApp(
      { NODE_ENV: 'production', TRUSTED_DOCUMENTS: `${codegen},${relay}` },
      { url: t.url },
    );
    server = await serve(app.app);
    expect(app.app.persisted.trustedCount).toBe(2);

    const log: Exchange[] = [];
    const client = apolloClient(server.url, log, { token: adminToken });
    expect((await client.query({ query: FEED })).data).toEqual(fullFeed);
    expect(summary(log)).toEqual(['POST hash']);

    // An operation outside the manifest: refused, and Apollo does not retry with the text.
    const unknown = gql`query Other { viewer { __typename id } }`;
    const refused: Exchange[] = [];
    await expect(
      apolloClient(server.url, refused, { token: adminToken }).query({ query: unknown }),
    ).rejects.toThrow(/trusted documents/);
    expect(summary(refused)).toEqual(['POST hash']);
    expect(refused[0]?.codes).toEqual(['PERSISTED_QUERY_NOT_IN_LIST']);

    // Query text, even of a manifest operation, is refused; nothing runs.
    const text = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({ query: VIEWER }),
    });
    expect(text.status).toBe(400);
    expect(((await text.json()) as JsonBody).errors[0].extensions.code).toBe(
      'PERSISTED_QUERY_ONLY',
    );
  });

  it('accepts Relay-style `documentId` over POST and GET', async () => {
    const post = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({ documentId: md5(VIEWER), variables: {} }),
    });
    expect(((await post.json()) as JsonBody).data.viewer.name).toEqual(expect.any(String));
    const get = await fetch(`${server.url}?documentId=${md5(VIEWER)}`, {
      headers: {
        accept: 'application/json',
        authorization: `Bearer ${adminToken}`,
        'x-graphql-yoga-csrf': '1',
      },
    });
    expect(((await get.json()) as JsonBody).data.viewer.name).toEqual(expect.any(String));
    await server.close();
    await app.close();
  });

  it('outside production, also runs other operations (documented)', async () => {
    const dev = await createTestApp({ TRUSTED_DOCUMENTS: codegen }, { url: t.url });
    try {
      const res = await dev.gql('{ viewer { id } }', {}, { as: ADMIN });
      expect(res.data?.viewer.id).toEqual(expect.any(String));
    } finally {
      await dev.close();
    }
  });

  it('a manifest that does not match the schema stops start-up, naming the document', async () => {
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ abc123: '{ viewer { shoeSize } }' }));
    await expect(
      createTestApp({ NODE_ENV: 'production', TRUSTED_DOCUMENTS: bad }, { url: t.url }),
    ).rejects.toThrow(ConfigError);
    await expect(
      createTestApp({ NODE_ENV: 'production', TRUSTED_DOCUMENTS: bad }, { url: t.url }),
    ).rejects.toThrow(/document abc123 does not match the schema/);
  });
});

describe('settings', () => {
  const base = { NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) };
  it('refuses settings that would weaken or cannot work, naming the variable', () => {
    expect(() =>
      loadConfig({ ...base, TRUSTED_DOCUMENTS: 'm.json', TRUSTED_DOCUMENTS_ONLY: 'false' }),
    ).toThrow(/TRUSTED_DOCUMENTS_ONLY: cannot be false in production/);
    expect(() => loadConfig({ NODE_ENV: 'development', TRUSTED_DOCUMENTS_ONLY: 'true' })).toThrow(
      /TRUSTED_DOCUMENTS_ONLY: needs TRUSTED_DOCUMENTS/,
    );
    expect(() => loadConfig({ APQ_MAX_DOCUMENT_BYTES: '10' })).toThrow(
      /APQ_MAX_DOCUMENT_BYTES: must be between 256 and 1048576, got 10/,
    );
    expect(() => loadConfig({ TRUSTED_DOCUMENTS_ONLY: 'maybe' })).toThrow(
      /TRUSTED_DOCUMENTS_ONLY: must be true or false/,
    );
  });

  it('enforces trusted documents in production, and outside it only when asked', () => {
    const manifests = { TRUSTED_DOCUMENTS: 'a.json, b.json' };
    expect(loadConfig({ ...base, ...manifests }).persisted).toMatchObject({
      trustedDocuments: ['a.json', 'b.json'],
      trustedOnly: true,
    });
    expect(loadConfig(manifests).persisted.trustedOnly).toBe(false);
    expect(loadConfig({ ...manifests, TRUSTED_DOCUMENTS_ONLY: 'true' }).persisted.trustedOnly).toBe(
      true,
    );
    expect(loadConfig({}).persisted).toMatchObject({
      apq: true,
      maxEntries: 10_000,
      maxBytes: 32 * 1024 * 1024,
      maxDocumentBytes: 32 * 1024,
      ttlMs: 7 * 86_400_000,
      trustedDocuments: [],
      trustedOnly: false,
    });
  });
});
