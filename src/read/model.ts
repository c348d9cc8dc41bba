/**
 * What the read engine knows of an entity: its table, the columns behind its GraphQL fields,
 * its to-one relations and the orders its lists can be paged in. Entity files under
 * src/schema/ declare one model each; the engine plans, compiles and runs the SQL.
 */

/** How a column is read into the JSON a row becomes (see compile.ts). */
export type ColumnType =
  | 'int'
  | 'text'
  | 'enum'
  | 'bool'
  | 'timestamptz'
  | 'date'
  | 'text[]'
  | 'json';

export interface Column {
  column: string;
  type: ColumnType;
}

export interface ToOne {
  /** The related model (a thunk: models refer to each other). */
  model: () => ReadModel;
  /** Column on this table holding the related row's id. */
  fk: string;
  nullable: boolean;
}

/** A sort key of a keyset-paged list. */
export interface SortKey {
  column: string;
  type: 'timestamptz' | 'date' | 'text' | 'int';
  nullable: boolean;
}

export interface ReadModel {
  typename: string;
  table: string;
  /** GraphQL field (and row key) -> column. `id` is always read. */
  columns: Readonly<Record<string, Column>>;
  /** GraphQL field -> to-one relation, loaded in the same statement as its parent. */
  relations: Readonly<Record<string, ToOne>>;
  /** Fields computed by a resolver, with the row keys they read. */
  computed: Readonly<Record<string, readonly string[]>>;
  /** Nested connection fields: resolved by their own (batched) statement, need only `id`. */
  lists: readonly string[];
  /** Row keys every row carries, whatever the selection (visibility checks, fallbacks). */
  always: readonly string[];
  /** List orders by enum value. */
  orders: Readonly<Record<string, SortKey>>;
}

export interface ModelInput {
  typename: string;
  table: string;
  columns: Record<string, Column | ColumnType | `${ColumnType} ${string}`>;
  relations?: Record<string, ToOne>;
  computed?: Record<string, readonly string[]>;
  lists?: readonly string[];
  always?: readonly string[];
  orders?: Record<string, SortKey>;
}

const models = new Map<string, ReadModel>();

/** The model declared for a GraphQL type (node lookups), if any. */
export function modelOf(typename: string): ReadModel | undefined {
  return models.get(typename);
}

const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * Declares a model. A column given as a type alone is the field name in snake_case
 * (`scheduledAt: 'timestamptz'` reads `scheduled_at`); `'text name_col'` names the column.
 */
export function defineModel(input: ModelInput): ReadModel {
  const columns: Record<string, Column> = { id: { column: 'id', type: 'int' } };
  for (const [field, spec] of Object.entries(input.columns)) {
    if (typeof spec === 'object') columns[field] = spec;
    else {
      const [type, column] = spec.split(' ') as [ColumnType, string | undefined];
      columns[field] = { column: column ?? snake(field), type };
    }
  }
  for (const [field, column] of Object.entries(columns)) {
    if (!/^[a-z_][a-z0-9_]*$/.test(column.column)) {
      throw new Error(`${input.typename}.${field}: bad column name ${column.column}`);
    }
  }
  const model: ReadModel = {
    typename: input.typename,
    table: input.table,
    columns,
    relations: input.relations ?? {},
    computed: input.computed ?? {},
    lists: input.lists ?? [],
    always: ['id', ...(input.always ?? [])],
    orders: input.orders ?? {},
  };
  models.set(model.typename, model);
  return model;
}
