/**
 * The bare Yoga baseline of `npm run bench`: `createYoga` with a one-field schema and no
 * plugins of its own, on the same Node as Postline, in its own process. It answers
 * `{ __typename }` at /graphql; /ready says it is listening. Plain JavaScript, so no loader
 * runs in it. Listens on 127.0.0.1:$PORT.
 */
import { createServer } from 'node:http';
import { createSchema, createYoga } from 'graphql-yoga';

const yoga = createYoga({
  schema: createSchema({ typeDefs: 'type Query { hello: String }', resolvers: {} }),
  graphiql: false,
  landingPage: false,
  logging: false,
});

const server = createServer((req, res) => {
  if (req.url === '/ready') {
    res.end('ready');
    return;
  }
  return yoga(req, res);
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT), '127.0.0.1');
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
