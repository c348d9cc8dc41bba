/**
 * Apollo Client 4 with the generated typed documents: signs in, pages through the feed with
 * `relayStylePagination`, reads one post. Every operation is sent as its trusted-document hash
 * (`PersistedQueryLink` with the hash codegen computed), so it also runs against a production
 * server that accepts only the manifest (TRUSTED_DOCUMENTS).
 *
 * Run: POSTLINE_URL=http://localhost:4000/graphql node --import tsx examples/typed-clients/apollo.ts
 */
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client';
import { SetContextLink } from '@apollo/client/link/context';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { relayStylePagination } from '@apollo/client/utilities';
import { FeedDocument, LoginDocument, PostDocument } from './generated/graphql.ts';

const url = process.env.POSTLINE_URL ?? 'http://localhost:4000/graphql';
let token: string | null = null;

const client = new ApolloClient({
  cache: new InMemoryCache({
    typePolicies: { Query: { fields: { posts: relayStylePagination(['filter', 'orderBy']) } } },
  }),
  link: ApolloLink.from([
    // Codegen put each document's hash on it (`__meta__.hash`); the server finds it in the manifest.
    new PersistedQueryLink({
      generateHash: (document) => (document as { __meta__?: { hash: string } }).__meta__!.hash,
    }),
    new SetContextLink((prev) => ({
      headers: { ...prev.headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    })),
    new HttpLink({ uri: url }),
  ]),
});

const login = await client.mutate({
  mutation: LoginDocument,
  variables: { email: 'admin@postline.dev', password: 'postline-demo' },
});
token = login.data!.login.token;
console.log(
  `apollo: signed in as ${login.data!.login.viewer.name} (${login.data!.login.viewer.role})`,
);

const first = await client.query({ query: FeedDocument, variables: { first: 5 } });
const posts = first.data!.posts;
console.log(`apollo: page 1 has ${posts.edges.length} of ${posts.totalCount} posts`);
// The next page. relayStylePagination merges it into the same list in the cache (and would
// answer from the cache without `network-only`: the field already holds a page).
const merged = await client.query({
  query: FeedDocument,
  variables: { first: 5, after: posts.pageInfo.endCursor },
  fetchPolicy: 'network-only',
});
const edges = merged.data!.posts.edges;
console.log(
  `apollo: the cache now holds ${edges.length} posts, "${edges.at(-1)?.node.title}" last`,
);

const firstPost = posts.edges[0]!.node;
const post = await client.query({ query: PostDocument, variables: { id: firstPost.id } });
const node = post.data!.node;
if (node?.__typename === 'Post') {
  console.log(`apollo: "${node.title}" by ${node.author.name}, ${node.status}`);
}
