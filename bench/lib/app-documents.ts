/**
 * Every GraphQL operation Postline itself sends or documents: the benchmark's queries
 * (bench/lib/queries.ts, the profile set in bench/profile.ts, bench/jobs.ts), the README's
 * examples and GraphiQL's introspection query. The query limits' defaults must accept them all
 * (test/query-limits.test.ts); `bench/query-limits.ts` prints their cost against the limits.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type GraphQLInputType,
  type GraphQLSchema,
  getIntrospectionQuery,
  isEnumType,
  isListType,
  isNonNullType,
  Kind,
  type NamedTypeNode,
  parse,
  print,
  typeFromAST,
} from 'graphql';
import * as queries from './queries.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface AppDocument {
  /** Where it comes from, e.g. `README.md:58` or `bench/lib/queries.ts FEED`. */
  source: string;
  query: string;
}

/** Splits a block holding several anonymous operations into one document per operation. */
function operations(source: string, text: string): AppDocument[] {
  const doc = parse(text);
  const ops = doc.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  if (ops.length <= 1) return [{ source, query: text }];
  const fragments = doc.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION);
  return ops.map((op, i) => ({
    source: `${source} #${i + 1}`,
    query: [op, ...fragments].map((d) => print(d)).join('\n'),
  }));
}

const unescapeJson = (s: string) => JSON.parse(`"${s}"`) as string;

export function appDocuments(): AppDocument[] {
  const docs: AppDocument[] = [];
  for (const [name, value] of Object.entries(queries)) {
    if (typeof value !== 'string' || !/^\s*(query|mutation|\{)/.test(value)) continue;
    docs.push({ source: `bench/lib/queries.ts ${name}`, query: value });
  }
  // Inline operations of the benchmark scripts (`query: \`...\``, `gql('...'`).
  for (const file of ['bench/profile.ts', 'bench/jobs.ts']) {
    const text = readFileSync(path.join(root, file), 'utf8');
    for (const m of text.matchAll(/query: `((?:query|mutation|\{)[^`]*)`/g)) {
      docs.push({ source: `${file}:${lineOf(text, m.index)}`, query: m[1] as string });
    }
    for (const m of text.matchAll(/gql\(\s*'((?:query|mutation|\{)[^']*)'/g)) {
      docs.push({ source: `${file}:${lineOf(text, m.index)}`, query: m[1] as string });
    }
  }
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  for (const m of readme.matchAll(/```graphql\n([\s\S]*?)```/g)) {
    docs.push(...operations(`README.md:${lineOf(readme, m.index)}`, m[1] as string));
  }
  for (const m of readme.matchAll(/"query":"((?:[^"\\]|\\.)*)"/g)) {
    docs.push({
      source: `README.md:${lineOf(readme, m.index)}`,
      query: unescapeJson(m[1] as string),
    });
  }
  docs.push({
    source: "GraphiQL's introspection query (getIntrospectionQuery, every option on)",
    query: getIntrospectionQuery({
      descriptions: true,
      specifiedByUrl: true,
      directiveIsRepeatable: true,
      schemaDescription: true,
      inputValueDeprecation: true,
      oneOf: true,
    }),
  });
  return docs;
}

function lineOf(text: string, index: number): number {
  return text.slice(0, index).split('\n').length;
}

/**
 * Variables that make an operation as expensive as it can be: page sizes (every `Int`) at 100,
 * lists of 100, enums at their first value, dates now, IDs and strings as placeholders that
 * resolvers refuse (the limits are checked before any resolver runs). Uploads stay null.
 */
export function worstCaseVariables(query: string, schema: GraphQLSchema): Record<string, unknown> {
  const vars: Record<string, unknown> = {};
  const op = parse(query).definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION);
  if (op?.kind !== Kind.OPERATION_DEFINITION) return vars;
  const sample = (type: GraphQLInputType): unknown => {
    if (isNonNullType(type)) return sample(type.ofType);
    if (isListType(type)) return Array.from({ length: 100 }, () => sample(type.ofType));
    if (isEnumType(type)) return type.getValues()[0]?.value;
    switch (type.name) {
      case 'Int':
        return 100;
      case 'DateTime':
        return new Date().toISOString();
      case 'Date':
        return new Date().toISOString().slice(0, 10);
      case 'Upload':
        return null;
      default:
        return 'x';
    }
  };
  for (const v of op.variableDefinitions ?? []) {
    const type = typeFromAST(schema, v.type as NamedTypeNode) as GraphQLInputType | undefined;
    if (type) vars[v.variable.name.value] = sample(type);
  }
  return vars;
}
