/**
 * What a request reads of a model at one position of the operation: the columns its fields
 * need and the to-one relations it selects (with what they select in turn). Planned from the
 * GraphQL selection (fragments, inline fragments, `@skip`/`@include`), and cached per position
 * of a parsed document, so a repeated operation plans nothing.
 */
import {
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLResolveInfo,
  isObjectType,
  Kind,
  type SelectionSetNode,
  valueFromASTUntyped,
} from 'graphql';
import type { ReadModel } from './model.ts';

export interface Plan {
  model: ReadModel;
  /** Row keys to read (columns of `model`), sorted; `id` first. */
  columns: string[];
  /** Selected to-one relations and what is read of them, sorted by field name. */
  relations: [field: string, plan: Plan][];
  /** Canonical text of the plan: equal plans compile to equal SQL. */
  key: string;
}

type Variables = Record<string, unknown>;

interface Collected {
  fields: Map<string, FieldNode[]>;
  /** Variables that `@skip`/`@include` read: the plan depends on their values. */
  directiveVariables: Set<string>;
}

function included(
  node: { directives?: readonly { name: { value: string }; arguments?: readonly any[] }[] },
  variables: Variables,
  used: Set<string>,
): boolean {
  if (!node.directives?.length) return true;
  for (const d of node.directives) {
    const name = d.name.value;
    if (name !== 'skip' && name !== 'include') continue;
    const arg = d.arguments?.find((a) => a.name.value === 'if');
    if (!arg) continue;
    if (arg.value.kind === Kind.VARIABLE) used.add(arg.value.name.value);
    const value = valueFromASTUntyped(arg.value, variables);
    if (name === 'skip' && value === true) return false;
    if (name === 'include' && value !== true) return false;
  }
  return true;
}

/** Type names a selection on `typename` may be conditioned on: itself and its interfaces. */
function conditionsOf(info: GraphQLResolveInfo, typename: string): Set<string> {
  let cache = conditionCache.get(info.schema);
  if (!cache) {
    cache = new Map();
    conditionCache.set(info.schema, cache);
  }
  let names = cache.get(typename);
  if (!names) {
    names = new Set([typename]);
    const type = info.schema.getType(typename);
    if (isObjectType(type)) for (const i of type.getInterfaces()) names.add(i.name);
    cache.set(typename, names);
  }
  return names;
}
const conditionCache = new WeakMap<object, Map<string, Set<string>>>();

/** graphql-js's field collection, reduced to what planning needs (field nodes by name). */
export function collectFields(
  info: GraphQLResolveInfo,
  sets: readonly SelectionSetNode[],
  typename: string,
  out: Collected = { fields: new Map(), directiveVariables: new Set() },
): Collected {
  const conditions = conditionsOf(info, typename);
  const fragments = info.fragments as Record<string, FragmentDefinitionNode>;
  const visit = (set: SelectionSetNode, seen: Set<string>) => {
    for (const sel of set.selections) {
      if (!included(sel, info.variableValues, out.directiveVariables)) continue;
      if (sel.kind === Kind.FIELD) {
        const name = sel.name.value;
        const list = out.fields.get(name);
        if (list) list.push(sel);
        else out.fields.set(name, [sel]);
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        if (!sel.typeCondition || conditions.has(sel.typeCondition.name.value)) {
          visit(sel.selectionSet, seen);
        }
      } else {
        const name = sel.name.value;
        const fragment = fragments[name];
        // A fragment is expanded once per selection set (as graphql-js does).
        if (!fragment || seen.has(name)) continue;
        seen.add(name);
        if (conditions.has(fragment.typeCondition.name.value)) visit(fragment.selectionSet, seen);
      }
    }
  };
  for (const set of sets) visit(set, new Set());
  return out;
}

const selectionSets = (nodes: readonly FieldNode[]) =>
  nodes.flatMap((n) => (n.selectionSet ? [n.selectionSet] : []));

function buildPlan(
  info: GraphQLResolveInfo,
  model: ReadModel,
  sets: readonly SelectionSetNode[],
  used: Set<string>,
): Plan {
  const collected = collectFields(info, sets, model.typename, {
    fields: new Map(),
    directiveVariables: used,
  });
  const columns = new Set<string>(model.always);
  const relations: [string, Plan][] = [];
  for (const [name, nodes] of collected.fields) {
    if (name === '__typename') continue;
    if (model.columns[name]) {
      columns.add(name);
      continue;
    }
    const relation = model.relations[name];
    if (relation) {
      const plan = buildPlan(info, relation.model(), selectionSets(nodes), used);
      relations.push([name, plan]);
      columns.add(fkField(model, relation.fk));
      continue;
    }
    const needs = model.computed[name];
    if (needs) {
      for (const n of needs) columns.add(n);
      continue;
    }
    if (model.lists.includes(name)) continue;
    throw new Error(`read model ${model.typename} does not declare the field ${name}`);
  }
  const sorted = [...columns].sort((a, b) => (a === 'id' ? -1 : b === 'id' ? 1 : a < b ? -1 : 1));
  relations.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const key = `${model.typename}(${sorted.join(',')}${relations.map(([f, p]) => `,${f}:${p.key}`).join('')})`;
  return { model, columns: sorted, relations, key };
}

/** The row key of the model's column named `column` (relations name their fk by column). */
function fkField(model: ReadModel, column: string): string {
  for (const [field, c] of Object.entries(model.columns)) if (c.column === column) return field;
  throw new Error(`${model.typename}: no field reads the column ${column}`);
}

interface CacheEntry {
  /** Plans by model and by the values of the variables the directives read. */
  plans: Map<string, Plan>;
  variables: string[];
}
const planCache = new WeakMap<FieldNode, CacheEntry>();

/**
 * The plan of the objects at `path` (field names, e.g. `['edges', 'node']`) under the field
 * being resolved, read as `model`. Cached on the field's AST node.
 */
export function planAt(info: GraphQLResolveInfo, model: ReadModel, path: readonly string[]): Plan {
  const anchor = info.fieldNodes[0] as FieldNode;
  let entry = planCache.get(anchor);
  const variableKey = (vars: string[]) =>
    vars.length ? JSON.stringify(vars.map((v) => info.variableValues[v] ?? null)) : '';
  const cacheKey = (vars: string[]) => `${model.typename}|${path.join('.')}|${variableKey(vars)}`;
  if (entry) {
    const hit = entry.plans.get(cacheKey(entry.variables));
    if (hit) return hit;
  }
  // Walk the connection / payload levels down to the objects of `model`.
  const used = new Set<string>();
  let nodes: readonly FieldNode[] = info.fieldNodes;
  let typename = info.returnType.toString().replace(/[[\]!]/g, '');
  for (const step of path) {
    const collected = collectFields(info, selectionSets(nodes), typename, {
      fields: new Map(),
      directiveVariables: used,
    });
    nodes = collected.fields.get(step) ?? [];
    const parentType = info.schema.getType(typename);
    const field = isObjectType(parentType) ? parentType.getFields()[step] : undefined;
    typename = field ? field.type.toString().replace(/[[\]!]/g, '') : model.typename;
  }
  const plan = buildPlan(info, model, selectionSets(nodes), used);
  const variables = [...used].sort();
  if (!entry) {
    entry = { plans: new Map(), variables };
    planCache.set(anchor, entry);
  } else if (variables.some((v) => !entry?.variables.includes(v))) {
    entry.variables = [...new Set([...entry.variables, ...variables])].sort();
    entry.plans.clear();
  }
  if (entry.plans.size < 64) entry.plans.set(cacheKey(entry.variables), plan);
  return plan;
}
