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
  SchemaMetaFieldDef,
  type SelectionSetNode,
  TypeMetaFieldDef,
  type ValueNode,
} from 'graphql';
import { DEFAULT_PAGE_SIZE, MAX_OFFSET, MAX_PAGE_SIZE } from '../read/keyset.ts';

/** A `totalCount` runs a count query: it weighs as much as a default page of rows. */
export const TOTAL_COUNT_WEIGHT = DEFAULT_PAGE_SIZE;

/** The multipliers along the most expensive path, for the error message. */
export interface Chain {
  factor: number;
  /** e.g. ['clients(first: 100)', 'projects(first: 100)'] */
  path: string[];
}

/** A variable the cost depends on, and how it is read. */
export interface CostInput {
  name: string;
  role: 'page' | 'offset' | 'length';
}

export interface OperationCost {
  cost: number;
  /** The largest product of multipliers on one path; only computed with `explain`. */
  chain: Chain | null;
  /** The variables the cost depends on (none: the cost is the document's alone). */
  inputs: CostInput[];
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

const EMPTY: SetCost = Object.freeze({ flat: 0, perItem: 0, chain: null, itemChain: null });

/** Page size as the resolver uses it: null when absent, clamped to 0..100. */
export function pageValue(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) {
    return Math.min(MAX_PAGE_SIZE, Math.max(0, Math.trunc(v)));
  }
  // Not a number: the resolver refuses it; assume the worst meanwhile.
  return v == null ? null : MAX_PAGE_SIZE;
}

export function offsetValue(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v)
    ? Math.min(MAX_OFFSET, Math.max(0, Math.trunc(v)))
    : 0;
}

/** A list argument's length (`nodes(ids:)`); a single value counts one, as graphql-js coerces. */
export function lengthValue(v: unknown): number {
  if (Array.isArray(v)) return v.length;
  return v == null ? 0 : 1;
}

/**
 * What of the request's variables the cost depends on, as a string: two requests with the same
 * key have the same cost (callers cache by it).
 */
export function inputKey(inputs: readonly CostInput[], variables: Record<string, unknown>): string {
  let key = '';
  for (const { name, role } of inputs) {
    const v = variables[name];
    const n = role === 'page' ? pageValue(v) : role === 'offset' ? offsetValue(v) : lengthValue(v);
    key += `${n},`;
  }
  return key;
}

interface SchemaInfo {
  /** Types returned by fields taking `first`/`last` and having `edges`. */
  connections: Set<string>;
}

const schemaInfo = new WeakMap<GraphQLSchema, SchemaInfo>();

/** Reads the schema's connection types; done at start-up so no request pays it (~100 ms). */
export function prepareCostSchema(schema: GraphQLSchema): void {
  infoFor(schema);
}

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
  readonly #explain: boolean;
  readonly #fragments = new Map<string, FragmentDefinitionNode>();
  readonly #memo = new Map<string, SetCost>();
  readonly #variables: Record<string, unknown>;
  readonly #defaults = new Map<string, ValueNode>();
  readonly inputs: CostInput[] = [];

  constructor(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Record<string, unknown>,
    explain: boolean,
  ) {
    this.#schema = schema;
    this.#info = infoFor(schema);
    this.#variables = variables;
    this.#explain = explain;
    for (const def of document.definitions) {
      if (def.kind === Kind.FRAGMENT_DEFINITION) this.#fragments.set(def.name.value, def);
    }
    for (const v of operation.variableDefinitions ?? []) {
      if (v.defaultValue) this.#defaults.set(v.variable.name.value, v.defaultValue);
    }
  }

  /** The raw value of an argument: a literal, or the variable's value (or its default). */
  #arg(field: FieldNode, name: string, role: CostInput['role']): unknown {
    const arg = field.arguments?.find((a) => a.name.value === name);
    return arg ? this.#value(arg.value, role) : undefined;
  }

  #value(node: ValueNode, role: CostInput['role']): unknown {
    switch (node.kind) {
      case Kind.VARIABLE: {
        const name = node.name.value;
        if (!this.inputs.some((i) => i.name === name && i.role === role)) {
          this.inputs.push({ name, role });
        }
        if (this.#variables[name] !== undefined) return this.#variables[name];
        const fallback = this.#defaults.get(name);
        return fallback ? this.#value(fallback, role) : undefined;
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

  operation(op: OperationDefinitionNode): OperationCost {
    const root = this.#schema.getRootType(op.operation);
    if (!root) return { cost: 0, chain: null, inputs: [] };
    const set = this.#set(op.selectionSet, root);
    return { cost: set.flat, chain: set.chain, inputs: this.inputs };
  }

  #set(selectionSet: SelectionSetNode, type: GraphQLNamedType): SetCost {
    let flat = 0;
    let perItem = 0;
    let chain: Chain | null = null;
    let itemChain: Chain | null = null;
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
      flat += part.flat;
      perItem += part.perItem;
      if (this.#explain) {
        chain = maxChain(chain, part.chain);
        itemChain = maxChain(itemChain, part.itemChain);
      }
    }
    return { flat, perItem, chain, itemChain };
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
    // Introspection's entry points are not among the root type's fields.
    if (name === '__schema') return SchemaMetaFieldDef;
    if (name === '__type') return TypeMetaFieldDef;
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
    if (!node.selectionSet || !field) {
      return { flat: weight, perItem: 0, chain: null, itemChain: null };
    }
    const type = getNamedType(field.type);
    const inner = this.#set(node.selectionSet, type);
    let flat = weight + inner.flat;
    let chain = inner.chain;
    // For the explanation: the multiplier here, and the chain below that it extends.
    let factor = 1;
    let below: Chain | null = null;
    let label = '';
    if (this.#info.connections.has(type.name)) {
      const first = pageValue(this.#arg(node, 'first', 'page'));
      const last = pageValue(this.#arg(node, 'last', 'page'));
      const size =
        first === null && last === null ? DEFAULT_PAGE_SIZE : Math.max(first ?? 0, last ?? 0);
      flat += offsetValue(this.#arg(node, 'offset', 'offset')) + size * inner.perItem;
      if (this.#explain) {
        below = inner.itemChain;
        factor = size * (below?.factor ?? 1);
        const arg = first !== null ? 'first' : last !== null ? 'last' : null;
        label = arg ? `(${arg}: ${size})` : `(${size} by default)`;
      }
    } else if (name === 'nodes' && field.args.some((a) => a.name === 'ids')) {
      const n = lengthValue(this.#arg(node, 'ids', 'length'));
      flat = weight + n * inner.flat;
      if (this.#explain) {
        below = inner.chain;
        factor = n * (below?.factor ?? 1);
        label = `(ids: ${n} IDs)`;
      }
    }
    if (factor > 1) {
      const shown = node.alias ? `${node.alias.value}: ${name}` : name;
      chain = maxChain(chain, { factor, path: [`${shown}${label}`, ...(below?.path ?? [])] });
    }
    return { flat, perItem: 0, chain, itemChain: null };
  }
}

/**
 * The cost of the operation `operationName` (or the document's only operation) with these raw
 * request variables; `explain` also finds the chain of multipliers for an error message. Null
 * when the operation cannot be chosen (execution reports that).
 */
export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown> | null | undefined,
  explain = false,
): OperationCost | null {
  let operation: OperationDefinitionNode | undefined;
  let count = 0;
  for (const def of document.definitions) {
    if (def.kind !== Kind.OPERATION_DEFINITION) continue;
    count++;
    if (operationName ? def.name?.value === operationName : count === 1) operation = def;
  }
  if (!operation || (!operationName && count > 1)) return null;
  return new CostWalk(schema, document, operation, variables ?? {}, explain).operation(operation);
}
