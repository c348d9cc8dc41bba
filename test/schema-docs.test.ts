/**
 * Every public part of the schema has a description (#14): GraphiQL's docs pane and generated
 * client types show them. A missing one is listed by its schema coordinate (`Query.posts(first:)`).
 */
import {
  buildSchema,
  type GraphQLArgument,
  type GraphQLSchema,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isIntrospectionType,
  isObjectType,
  isSpecifiedDirective,
  isSpecifiedScalarType,
} from 'graphql';
import { describe, expect, it } from 'vitest';
import { schema } from '../src/schema/index.ts';

const described = (text: string | null | undefined) => !!text?.trim();

/** Coordinates of every type, field, argument, input field, enum value and directive without one. */
function undocumented(s: GraphQLSchema): string[] {
  const missing: string[] = [];
  const args = (owner: string, list: readonly GraphQLArgument[]) => {
    for (const arg of list) if (!described(arg.description)) missing.push(`${owner}(${arg.name}:)`);
  };
  for (const type of Object.values(s.getTypeMap())) {
    if (isIntrospectionType(type) || isSpecifiedScalarType(type)) continue;
    if (!described(type.description)) missing.push(type.name);
    if (isObjectType(type) || isInterfaceType(type)) {
      for (const field of Object.values(type.getFields())) {
        const coordinate = `${type.name}.${field.name}`;
        if (!described(field.description)) missing.push(coordinate);
        args(coordinate, field.args);
      }
    } else if (isInputObjectType(type)) {
      for (const field of Object.values(type.getFields())) {
        if (!described(field.description)) missing.push(`${type.name}.${field.name}`);
      }
    } else if (isEnumType(type)) {
      for (const value of type.getValues()) {
        if (!described(value.description)) missing.push(`${type.name}.${value.name}`);
      }
    }
  }
  for (const directive of s.getDirectives()) {
    if (isSpecifiedDirective(directive)) continue;
    if (!described(directive.description)) missing.push(`@${directive.name}`);
    args(`@${directive.name}`, directive.args);
  }
  return missing.sort();
}

describe('schema descriptions', () => {
  it('the check finds each kind of undocumented part, by coordinate', () => {
    const sample = buildSchema(`
      "Documented."
      type Query {
        "Documented."
        posts("Documented." first: Int, after: String): [Post!]!
        plain: Status
      }
      type Post { "Documented." id: ID! }
      "Documented." enum Status { "Documented." OPEN CLOSED }
      "Documented." input Filter { "Documented." a: Int, b: Int }
      "Documented." interface Node { id: ID! }
      union Anything = Post
      scalar Instant
      directive @cached(ttl: Int) on FIELD_DEFINITION
      "Documented." type Mutation { "Documented." f(input: Filter): Int }
    `);
    expect(undocumented(sample)).toEqual([
      '@cached',
      '@cached(ttl:)',
      'Anything',
      'Filter.b',
      'Instant',
      'Mutation.f(input:)',
      'Node.id',
      'Post',
      'Query.plain',
      'Query.posts(after:)',
      'Status.CLOSED',
    ]);
  });

  it('every type, field, argument, input field and enum value of the API has a description', () => {
    const missing = undocumented(schema);
    expect(
      missing,
      `${missing.length} parts of the schema lack a description (Pothos \`description\` option)`,
    ).toEqual([]);
  });
});
