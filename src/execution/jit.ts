/**
 * Compiled execution (graphql-jit through @envelop/graphql-jit) for operations a client repeats.
 * A document is compiled the second time it runs in this process, never the first: a one-off or
 * hostile document costs one interpreted execution, not a compilation (milliseconds of CPU
 * each), while an application's own operations, which repeat, run compiled from the second call.
 */
import { useGraphQlJit } from '@envelop/graphql-jit';
import type { DocumentNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/** Executions of a document before it is compiled. */
export const COMPILE_AFTER = 1;

export function jitPlugin(): Plugin {
  const seen = new WeakMap<DocumentNode, number>();
  return useGraphQlJit(
    {},
    {
      enableIf: ({ document }) => {
        const n = seen.get(document) ?? 0;
        if (n >= COMPILE_AFTER) return true;
        seen.set(document, n + 1);
        return false;
      },
      onError: () => {},
    },
  ) as Plugin;
}
