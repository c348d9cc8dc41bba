/**
 * Plans to SQL. A row becomes one JSON object built by PostgreSQL (`json_build_object`), its
 * selected to-one relations nested inside through LEFT JOINs on their primary keys, so a page
 * and everything its rows point to arrive in one statement and one `JSON.parse`. Values are
 * formatted as the API prints them (instants as ISO-8601 UTC with milliseconds, dates as
 * YYYY-MM-DD), so the GraphQL layer copies them through.
 */
import type { ColumnType, SortKey } from './model.ts';
import type { Plan } from './plan.ts';

export interface CompiledRow {
  /** `json_build_object(...)` of the row aliased `t` (NULL when `t` is NULL). */
  object: string;
  /** `LEFT JOIN ...` clauses the object reads. */
  joins: string;
}

/** SQL that renders `expr` (of `type`) as the API prints it. */
export function formatted(expr: string, type: ColumnType | SortKey['type']): string {
  switch (type) {
    case 'timestamptz':
      return `to_char(${expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
    case 'date':
      return `to_char(${expr}, 'YYYY-MM-DD')`;
    default:
      return expr;
  }
}

const compiled = new WeakMap<Plan, CompiledRow>();

/** The JSON object and joins of `plan` for the row aliased `t`; cached per plan. */
export function compileRow(plan: Plan): CompiledRow {
  let out = compiled.get(plan);
  if (!out) {
    const joins: string[] = [];
    let n = 0;
    const objectOf = (p: Plan, alias: string): string => {
      const parts: string[] = [];
      for (const field of p.columns) {
        const column = p.model.columns[field];
        if (!column) throw new Error(`${p.model.typename}: no column for ${field}`);
        parts.push(`'${field}', ${formatted(`${alias}."${column.column}"`, column.type)}`);
      }
      for (const [field, nested] of p.relations) {
        const relation = p.model.relations[field];
        if (!relation) throw new Error(`${p.model.typename}: no relation ${field}`);
        const r = `r${++n}`;
        joins.push(`LEFT JOIN "${nested.model.table}" ${r} ON ${r}.id = ${alias}."${relation.fk}"`);
        parts.push(`'${field}', ${objectOf(nested, r)}`);
      }
      // json_build_object takes at most 100 arguments.
      if (parts.length > 50) throw new Error(`${p.model.typename}: too many fields in one object`);
      return `CASE WHEN ${alias}.id IS NULL THEN NULL ELSE json_build_object(${parts.join(', ')}) END`;
    };
    out = { object: objectOf(plan, 't'), joins: joins.join(' ') };
    compiled.set(plan, out);
  }
  return out;
}
