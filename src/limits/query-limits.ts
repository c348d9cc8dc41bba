/**
 * Limits checked before an operation runs, in the order a request meets them:
 *
 * 1. tokens, while parsing: graphql-js stops lexing at `MAX_QUERY_TOKENS` + 1, so a huge
 *    document costs bounded work (graphql-armor's max-tokens plugin does the same through a
 *    Proxy on the lexer; graphql-js's own option is cheaper);
 * 2. depth, aliases, directives, as validation rules (graphql-armor's per-rule packages;
 *    each visits a fragment once). Yoga caches validation per document, so a repeated
 *    document is not walked again;
 * 3. cost, as execution starts (before any resolver), per request: it depends on the
 *    variables (`first: $n`). A document is walked once per distinct page sizes and cached.
 *    See cost.ts for the model and why it is Postline's own.
 *
 * Every refusal is a GraphQLError with `extensions: { code: 'QUERY_TOO_COMPLEX', rule, limit,
 * value }` and HTTP 400; nothing has executed, so no SQL has run.
 */
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import {
  type DocumentNode,
  GraphQLError,
  type GraphQLSchema,
  parse,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import {
  type CostInput,
  inputKey,
  type OperationCost,
  operationCost,
  prepareCostSchema,
} from './cost.ts';

export interface QueryLimits {
  /** Deepest field nesting (MAX_QUERY_DEPTH); introspection (`__schema`) is not counted. */
  depth: number;
  /** Estimated cost (MAX_QUERY_COST); see cost.ts. */
  cost: number;
  /** Aliased fields, through fragments (MAX_QUERY_ALIASES). */
  aliases: number;
  /** Lexical tokens of the whole document (MAX_QUERY_TOKENS). */
  tokens: number;
  /** Directives, through fragments (MAX_QUERY_DIRECTIVES). */
  directives: number;
}

export type LimitRule = 'cost' | 'depth' | 'aliases' | 'tokens' | 'directives';

export function queryTooComplex(
  rule: LimitRule,
  limit: number,
  value: number,
  message: string,
): GraphQLError {
  return new GraphQLError(message, {
    extensions: {
      code: 'QUERY_TOO_COMPLEX',
      rule,
      limit,
      value: Math.min(value, Number.MAX_SAFE_INTEGER),
      http: { status: 400 },
    },
  });
}

/** 4194304 -> "4,194,304" (without Intl, whose first use costs tens of milliseconds). */
export function fmt(n: number): string {
  if (n > Number.MAX_SAFE_INTEGER) return 'more than 9,007,199,254,740,991';
  return String(Math.trunc(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

const ADVICE: Record<
  Exclude<LimitRule, 'cost' | 'tokens'>,
  (value: number, limit: number) => string
> = {
  depth: (v, l) =>
    `The operation is nested ${fmt(v)} levels deep; the limit is ${fmt(l)}. ` +
    'Each nested connection adds three levels (the field, `edges`, `node`): ' +
    'load deeper data in a separate operation.',
  aliases: (v, l) =>
    `The operation uses ${fmt(v)} aliases; the limit is ${fmt(l)}. ` +
    'Request fewer aliased fields, or page through one list with cursors.',
  directives: (v, l) => `The operation uses ${fmt(v)} directives; the limit is ${fmt(l)}.`,
};

/**
 * An armor rule whose rejection becomes a typed error. Armor reports the measured value only
 * in its message ("…, found 8."), which `exposeLimits` guarantees; the test suite checks it.
 */
function armorRule(
  rule: keyof typeof ADVICE,
  limit: number,
  make: (options: {
    n: number;
    propagateOnRejection: false;
    exposeLimits: true;
    onReject: ((ctx: ValidationContext | null, err: GraphQLError) => void)[];
  }) => ValidationRule,
): ValidationRule {
  return make({
    n: limit,
    propagateOnRejection: false,
    exposeLimits: true,
    onReject: [
      (ctx, err) => {
        const value = Number(/found (\d+)/.exec(err.message)?.[1] ?? limit + 1);
        ctx?.reportError(queryTooComplex(rule, limit, value, ADVICE[rule](value, limit)));
      },
    ],
  });
}

function costError(cost: OperationCost, limit: number): GraphQLError {
  let message = `The operation would cost ${fmt(cost.cost)}; the limit is ${fmt(limit)}.`;
  if (cost.chain && cost.chain.factor > 1) {
    message +=
      ` ${cost.chain.path.join(' › ')} multiplies what it selects by ${fmt(cost.chain.factor)}.` +
      ' Ask for smaller pages (`first`/`last`), fewer fields or fewer aliases, or split the operation.';
  } else {
    message +=
      ' Select fewer fields or fewer aliases, or split the operation' +
      ' (a fragment counts each time it is spread).';
  }
  return queryTooComplex('cost', limit, cost.cost, message);
}

const TOKEN_ERROR = /contains more th(?:at|an) \d+ tokens/;

/** Costs per parsed document and operation, by the variables they depend on. */
interface CostEntry {
  inputs: readonly CostInput[];
  /** inputKey(...) -> cost; bounded, so varying `first` cannot grow it without end. */
  byKey: Map<string, number>;
}
const MAX_KEYS_PER_OPERATION = 128;

/**
 * The cost, walked once per document, operation and distinct page sizes (Yoga's parser cache
 * hands out the same DocumentNode for the same text, and the entries go with it).
 */
const costCache = new WeakMap<DocumentNode, Map<string, CostEntry | null>>();

export function cachedCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown> | null | undefined,
): number | null {
  const vars = variables ?? {};
  let byOperation = costCache.get(document);
  const entry = byOperation?.get(operationName ?? '');
  if (entry === null) return null;
  const key = entry ? inputKey(entry.inputs, vars) : '';
  const cached = entry?.byKey.get(key);
  if (cached !== undefined) return cached;
  const cost = operationCost(schema, document, operationName, vars);
  if (!byOperation) {
    byOperation = new Map();
    costCache.set(document, byOperation);
  }
  if (!cost) {
    byOperation.set(operationName ?? '', null);
    return null;
  }
  const fresh = entry ?? { inputs: cost.inputs, byKey: new Map<string, number>() };
  if (fresh.byKey.size < MAX_KEYS_PER_OPERATION) {
    fresh.byKey.set(entry ? key : inputKey(cost.inputs, vars), cost.cost);
  }
  byOperation.set(operationName ?? '', fresh);
  return cost.cost;
}

export function queryLimitsPlugin(limits: QueryLimits): Plugin {
  const tokenLimited = (
    source: Parameters<typeof parse>[0],
    options?: Parameters<typeof parse>[1],
  ) => {
    try {
      return parse(source, { ...options, maxTokens: limits.tokens });
    } catch (err) {
      if (err instanceof GraphQLError && TOKEN_ERROR.test(err.message)) {
        // graphql-js stops counting at the first token over the limit.
        throw queryTooComplex(
          'tokens',
          limits.tokens,
          limits.tokens + 1,
          `The document has more than ${fmt(limits.tokens)} tokens (names, punctuation and ` +
            `values); the limit is ${fmt(limits.tokens)}. Send a smaller document: ` +
            'put repeated selections in a fragment, or split the operation.',
        );
      }
      throw err;
    }
  };
  const rules: ValidationRule[] = [
    armorRule('depth', limits.depth, (o) =>
      maxDepthRule({ ...o, flattenFragments: true, ignoreIntrospection: true }),
    ),
    armorRule('aliases', limits.aliases, (o) => maxAliasesRule(o)),
    armorRule('directives', limits.directives, (o) => maxDirectivesRule(o)),
  ];
  // Cost is checked as execution starts, not in validation: Yoga caches validation results
  // per document, and the cost depends on the variables.
  const checkCost = ({
    args,
    setResultAndStopExecution,
  }: {
    args: {
      schema: GraphQLSchema;
      document: DocumentNode;
      operationName?: string | null;
      variableValues?: Record<string, unknown> | null;
    };
    setResultAndStopExecution: (result: { errors: GraphQLError[] }) => void;
  }) => {
    const cost = cachedCost(args.schema, args.document, args.operationName, args.variableValues);
    if (cost !== null && cost > limits.cost) {
      // Walk again to explain which connection multiplied the cost (refusals only).
      const explained = operationCost(
        args.schema,
        args.document,
        args.operationName,
        args.variableValues,
        true,
      );
      if (explained) setResultAndStopExecution({ errors: [costError(explained, limits.cost)] });
    }
  };
  return {
    onSchemaChange({ schema }) {
      prepareCostSchema(schema);
    },
    onParse({ setParseFn }) {
      setParseFn(tokenLimited);
    },
    onValidate({ addValidationRule }) {
      for (const rule of rules) addValidationRule(rule);
    },
    onExecute: checkCost as NonNullable<Plugin['onExecute']>,
    onSubscribe: checkCost as NonNullable<Plugin['onSubscribe']>,
    onResultProcess({ result }) {
      // Yoga marks parse and validation errors `spec: true`: 400 only for clients accepting
      // application/graphql-response+json, 200 for application/json. A refusal is a 400 for all.
      const errors = (result as { errors?: readonly GraphQLError[] }).errors;
      if (!errors) return;
      for (const e of errors) {
        const http = e.extensions?.code === 'QUERY_TOO_COMPLEX' && e.extensions.http;
        if (http) (http as { spec?: boolean }).spec = false;
      }
    },
  };
}
