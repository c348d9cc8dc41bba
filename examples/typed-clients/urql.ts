/**
 * urql with the generated typed documents: signs in, pages through the feed, reads one post.
 * `persistedExchange` sends only each document's codegen hash (`enforcePersistedQueries`), so
 * it runs against a server that accepts only the trusted-documents manifest.
 *
 * Run: POSTLINE_URL=http://localhost:4000/graphql node --import tsx examples/typed-clients/urql.ts
 */
import { Client, cacheExchange, fetchExchange } from '@urql/core';
import { persistedExchange } from '@urql/exchange-persisted';
import { FeedDocument, LoginDocument, PostDocument } from './generated/graphql.ts';

const url = process.env.POSTLINE_URL ?? 'http://localhost:4000/graphql';
let token: string | null = null;

const client = new Client({
  url,
  exchanges: [
    cacheExchange,
    persistedExchange({
      enforcePersistedQueries: true,
      enableForMutation: true,
      generateHash: async (_query, document) =>
        (document as { __meta__?: { hash: string } }).__meta__!.hash,
    }),
    fetchExchange,
  ],
  fetchOptions: (): RequestInit => ({
    headers: {
      // persistedExchange sends hashes by GET; a GET must carry a CSRF-prevention header.
      'x-graphql-yoga-csrf': '1',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
  }),
});

const login = await client
  .mutation(LoginDocument, { email: 'editor@postline.dev', password: 'postline-demo' })
  .toPromise();
if (login.error) throw login.error;
token = login.data!.login.token;
console.log(
  `urql: signed in as ${login.data!.login.viewer.name} (${login.data!.login.viewer.role})`,
);

const page1 = await client.query(FeedDocument, { first: 5, status: ['DRAFT'] }).toPromise();
if (page1.error) throw page1.error;
const posts = page1.data!.posts;
console.log(`urql: page 1 has ${posts.edges.length} of ${posts.totalCount} draft posts`);
const page2 = await client
  .query(FeedDocument, { first: 5, status: ['DRAFT'], after: posts.pageInfo.endCursor })
  .toPromise();
console.log(`urql: page 2 starts with "${page2.data!.posts.edges[0]?.node.title}"`);

const post = await client.query(PostDocument, { id: posts.edges[0]!.node.id }).toPromise();
const node = post.data!.node;
if (node?.__typename === 'Post') {
  console.log(`urql: "${node.title}" by ${node.author.name}, ${node.status}`);
}
