/**
 * Compiled execution (graphql-jit through @envelop/graphql-jit) for operations a client repeats.
 * A document is compiled the second time it runs in this process, never the first: a one-off or
 * hostile document costs one interpreted execution, not a compilation (milliseconds of CPU
 * each), while an application's own operations, which repeat, run compiled from the second call.
 */
import { useGraphQlJit } from '@envelop/graphql-jit';
import {
  type ASTNode,
  type DocumentNode,
  GraphQLError,
  getOperationAST,
  Kind,
  Source,
} from 'graphql';
import { getVariableValues } from 'graphql/execution/values.js';
import type { Plugin } from 'graphql-yoga';

/** Executions of a document before it is compiled. */
export const COMPILE_AFTER = 1;

export function jitPlugin(): Plugin {
  const seen = new WeakMap<DocumentNode, number>();
  return useGraphQlJit(
    {},
    {
      enableIf: ({ document, schema, variableValues, operationName }) => {
        const n = seen.get(document) ?? 0;
        if (n < COMPILE_AFTER) {
          seen.set(document, n + 1);
          return false;
        }
        // Variables that do not coerce are reported by the interpreter, in graphql-js's words
        // (graphql-jit words them differently): the same answer on every run.
        const operation = getOperationAST(document, operationName);
        const defs = operation?.variableDefinitions;
        if (defs?.length) {
          const coerced = getVariableValues(schema, defs, variableValues ?? {}, { maxErrors: 1 });
          if (coerced.errors) return false;
        }
        return true;
      },
      onError: () => {},
    },
  ) as Plugin;
}

/**
 * Errors from compiled execution carry `locations` but no AST `nodes`, and Yoga rebuilds every
 * error from its nodes when it serializes the response: the locations would be lost, and the
 * same operation would answer differently on its first (interpreted) and later (compiled)
 * runs. This gives such an error nodes that point at the same line and column.
 */
export function withLocationNodes(error: GraphQLError): GraphQLError {
  const locations = error.locations;
  if (error.nodes?.length || !locations?.length) return error;
  const nodes = locations.map(({ line, column }) => {
    const source = new Source(`${'\n'.repeat(line - 1)}${' '.repeat(column - 1)}_`);
    return {
      kind: Kind.FIELD,
      loc: { source, start: line - 1 + column - 1 },
    } as unknown as ASTNode;
  });
  return new GraphQLError(error.message, {
    nodes,
    path: error.path,
    originalError: error.originalError,
    extensions: error.extensions,
  });
}
