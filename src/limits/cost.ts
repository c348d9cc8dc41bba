/**
 * The cost of an operation, estimated from the document and the request's variables before
 * anything runs. Relay-aware: a connection's page size (`first`/`last`, literal or variable,
 * 20 when absent, at most 100) multiplies what is selected under its `edges`, and nested
 * connections multiply again; `totalCount` is weighted as the count query it runs; `offset`
 * counts the rows it skips; `nodes(ids:)` multiplies by the number of IDs.
 *
 * Cost = the sum, over every field selected, of its weight (1; `totalCount` TOTAL_COUNT_WEIGHT)
 * times the page sizes of the connections it sits in: roughly the number of values the response
 * can hold, plus the count queries. It is an upper bound: fields repeated through aliases or
 * fragments count each time they appear (a fragment spread twice counts twice, although
 * execution merges the copies), `@skip`/`@include` are ignored, and both sides of
 * `... on A` / `... on B` count. Lists that are not connections (`tags`, the dashboard's
 * counts, introspection) count 1 per field; they are short, and introspection's nesting is
 * bounded by graphql-js's MaxIntrospectionDepthRule.
 *
 * Linear in the document: each fragment's cost is computed once per operation and a spread
 * adds it (times the spread's multiplier) without walking the fragment again, so a fragment
 * spread 2^22 times through nested fragments costs 23 fragment visits, not 2^22.
 */
import {
  type ArgumentNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  getNamedType,
  isInterfaceType,
  isObjectType,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';
import { DEFAULT_PAGE_SIZE, MAX_OFFSET, MAX_PAGE_SIZE } from '../schema/connection.ts';

/** A `totalCount` runs a count query: it weighs as much as a default page of rows. */
export const TOTAL_COUNT_WEIGHT = DEFAULT_PAGE_SIZE;

/** The multipliers along the most expensive path, for the error message. */
export interface Chain {
  factor: number;
  /** e.g. ['clients(first: 100)', 'projects(first: 100)'] */
  path: string[];
}

export interface OperationCost {
  cost: number;
  /** The largest product of multipliers on one path (null when nothing multiplies). */
  chain: Chain | null;
  /** Whether a multiplier came from a variable (then the cost depends on the request). */
  usesVariables: boolean;
}

/**
 * A selection set's cost, split for connection types: `flat` is paid once (the fields beside
 * `edges`), `perItem` once per edge (what `edges` selects). For other types `perItem` is 0.
 */
interface SetCost {
  flat: number;
  perItem: number;
  chain: Chain | null;
  itemChain: Chain | null;
}

interface SchemaInfo {
  /** Types returned by fields taking `first`/`last` and having `edges`. */
  connections: Set<string>;
}

const schemaInfo = new WeakMap<GraphQLSchema, SchemaInfo>();

function infoFor(schema: GraphQLSchema): SchemaInfo {
  let info = schemaInfo.get(schema);
  if (info) return info;
  const connections = new Set<string>();
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) && !isInterfaceType(type)) continue;
    for (const field of Object.values(type.getFields())) {
      if (!field.args.some((a) => a.name === 'first' || a.name === 'last')) continue;
      const target = getNamedType(field.type);
      if ((isObjectType(target) || isInterfaceType(target)) && target.getFields().edges) {
        connections.add(target.name);
      }
    }
  }
  info = { connections };
  schemaInfo.set(schema, info);
  return info;
}

function maxChain(a: Chain | null, b: Chain | null): Chain | null {
  if (!a) return b;
  if (!b) return a;
  return b.factor > a.factor ? b : a;
}

class CostWalk {
  readonly #schema: GraphQLSchema;
  readonly #info: SchemaInfo;
  readonly #fragments = new Map<string, FragmentDefinitionNode>();
  readonly #memo = new Map<string, SetCost>();
  readonly #variables: Record<string, unknown>;
  readonly #defaults = new Map<string, ValueNode>();
  usesVariables = false;

  constructor(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Record<string, unknown>,
  ) {
    this.#schema = schema;
    this.#info = infoFor(schema);
    this.#variables = variables;
    for (const def of document.definitions) {
      if (def.kind === Kind.FRAGMENT_DEFINITION) this.#fragments.set(def.name.value, def);
    }
    for (const v of operation.variableDefinitions ?? []) {
      if (v.defaultValue) this.#defaults.set(v.variable.name.value, v.defaultValue);
    }
  }

  /** The raw value of an argument: a literal, or the variable's value (or its default). */
  #argValue(args: readonly ArgumentNode[] | undefined, name: string): unknown {
    const arg = args?.find((a) => a.name.value === name);
    if (!arg) return undefined;
    return this.#value(arg.value);
  }

  #value(node: ValueNode): unknown {
    switch (node.kind) {
      case Kind.VARIABLE: {
        this.usesVariables = true;
        const name = node.name.value;
        if (this.#variables[name] !== undefined) return this.#variables[name];
        const fallback = this.#defaults.get(name);
        return fallback ? this.#value(fallback) : undefined;
      }
      case Kind.INT:
        return Number(node.value);
      case Kind.LIST:
        return node.values;
      case Kind.NULL:
        return null;
      default:
        return node.kind === Kind.STRING ? node.value : undefined;
    }
  }

  /** Page size as the resolver will use it: 20 when absent, clamped to 0..100. */
  #pageSize(field: FieldNode): { size: number; label: string } {
    const first = this.#argValue(field.arguments, 'first');
    const last = this.#argValue(field.arguments, 'last');
    const pick = (v: unknown) =>
      typeof v === 'number' && Number.isFinite(v)
        ? Math.min(MAX_PAGE_SIZE, Math.max(0, Math.trunc(v)))
        : v == null
          ? null
          : MAX_PAGE_SIZE; // not a number: the resolver refuses it; assume the worst
    const f = pick(first);
    const l = pick(last);
    const size = f === null && l === null ? DEFAULT_PAGE_SIZE : Math.max(f ?? 0, l ?? 0);
    const arg = f !== null ? 'first' : l !== null ? 'last' : null;
    return { size, label: arg ? `${arg}: ${size}` : `${size} by default` };
  }

  #offset(field: FieldNode): number {
    const v = this.#argValue(field.arguments, 'offset');
    return typeof v === 'number' && Number.isFinite(v)
      ? Math.min(MAX_OFFSET, Math.max(0, Math.trunc(v)))
      : 0;
  }

  /** `nodes(ids:)`: a list literal's length, a variable's array length (a single value is one). */
  #listLength(field: FieldNode, name: string): number {
    const v = this.#argValue(field.arguments, name);
    if (Array.isArray(v)) return v.length;
    return v == null ? 0 : 1;
  }

  operation(op: OperationDefinitionNode): OperationCost {
    const root = this.#schema.getRootType(op.operation);
    if (!root) return { cost: 0, chain: null, usesVariables: false };
    const set = this.#set(op.selectionSet, root);
    return { cost: set.flat, chain: set.chain, usesVariables: this.usesVariables };
  }

  #set(selectionSet: SelectionSetNode, type: GraphQLNamedType): SetCost {
    const result: SetCost = { flat: 0, perItem: 0, chain: null, itemChain: null };
    const connection = this.#info.connections.has(type.name);
    for (const sel of selectionSet.selections) {
      let part: SetCost;
      if (sel.kind === Kind.FIELD) {
        part =
          connection && sel.name.value === 'edges'
            ? this.#edges(sel, type)
            : this.#field(sel, type);
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        const cond = sel.typeCondition ? this.#schema.getType(sel.typeCondition.name.value) : type;
        part = cond ? this.#set(sel.selectionSet, cond) : EMPTY;
      } else {
        part = this.#fragment(sel.name.value);
      }
      result.flat += part.flat;
      result.perItem += part.perItem;
      result.chain = maxChain(result.chain, part.chain);
      result.itemChain = maxChain(result.itemChain, part.itemChain);
    }
    return result;
  }

  #fragment(name: string): SetCost {
    const memo = this.#memo.get(name);
    if (memo) return memo;
    const def = this.#fragments.get(name);
    const type = def && this.#schema.getType(def.typeCondition.name.value);
    // A cycle (refused by validation anyway) meets this placeholder instead of recursing.
    this.#memo.set(name, EMPTY);
    const cost = def && type ? this.#set(def.selectionSet, type) : EMPTY;
    this.#memo.set(name, cost);
    return cost;
  }

  #fieldDef(type: GraphQLNamedType, name: string): GraphQLField<unknown, unknown> | undefined {
    return isObjectType(type) || isInterfaceType(type) ? type.getFields()[name] : undefined;
  }

  /** A connection's `edges`: the field once, what it selects once per edge. */
  #edges(node: FieldNode, connection: GraphQLNamedType): SetCost {
    const field = this.#fieldDef(connection, 'edges');
    if (!node.selectionSet || !field) return { flat: 1, perItem: 0, chain: null, itemChain: null };
    const inner = this.#set(node.selectionSet, getNamedType(field.type));
    return { flat: 1, perItem: inner.flat, chain: null, itemChain: inner.chain };
  }

  #field(node: FieldNode, parent: GraphQLNamedType): SetCost {
    const name = node.name.value;
    const field = this.#fieldDef(parent, name);
    const weight =
      name === 'totalCount' && this.#info.connections.has(parent.name) ? TOTAL_COUNT_WEIGHT : 1;
    if (!node.selectionSet || !field)
      return { flat: weight, perItem: 0, chain: null, itemChain: null };
    const type = getNamedType(field.type);
    const inner = this.#set(node.selectionSet, type);
    const shown = node.alias ? `${node.alias.value}: ${name}` : name;
    let flat = weight + inner.flat;
    let chain = inner.chain;
    if (this.#info.connections.has(type.name)) {
      const { size, label } = this.#pageSize(node);
      flat += this.#offset(node) + size * inner.perItem;
      const factor = size * (inner.itemChain?.factor ?? 1);
      if (factor > 1) {
        const path = [`${shown}(${label})`, ...(inner.itemChain?.path ?? [])];
        chain = maxChain(chain, { factor, path });
      }
    } else if (name === 'nodes' && field.args.some((a) => a.name === 'ids')) {
      const n = this.#listLength(node, 'ids');
      flat = weight + n * inner.flat;
      const factor = n * (inner.chain?.factor ?? 1);
      if (factor > 1) {
        chain = maxChain(chain, {
          factor,
          path: [`${shown}(ids: ${n} IDs)`, ...(inner.chain?.path ?? [])],
        });
      }
    }
    return { flat, perItem: 0, chain, itemChain: null };
  }
}

const EMPTY: SetCost = Object.freeze({ flat: 0, perItem: 0, chain: null, itemChain: null });

/**
 * The cost of the operation `operationName` (or the document's only operation) with these
 * raw request variables. Null when the operation cannot be chosen (execution reports that).
 */
export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown> | null | undefined,
): OperationCost | null {
  const operations = document.definitions.filter(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
  );
  const operation = operationName
    ? operations.find((o) => o.name?.value === operationName)
    : operations.length === 1
      ? operations[0]
      : undefined;
  if (!operation) return null;
  return new CostWalk(schema, document, operation, variables ?? {}).operation(operation);
}
