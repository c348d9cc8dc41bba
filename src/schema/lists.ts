/** Pothos's planned Prisma selection for an object a mutation returns (Prisma-backed writes). */
import { queryFromInfo } from '@pothos/plugin-prisma';
import type { GraphQLResolveInfo } from 'graphql';
import type { Context } from '../context.ts';

/** Pothos's planned selection for the object a mutation payload returns under `field`. */
export function payloadQuery(ctx: Context, info: GraphQLResolveInfo, field: string): object {
  return queryFromInfo({ context: ctx, info, path: [field] }) as object;
}
