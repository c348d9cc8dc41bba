import { decoyHash, verifyPassword } from '../auth/passwords.ts';
import { requireViewer } from '../auth/rules.ts';
import { builder } from '../builder.ts';
import { typedError } from '../errors.ts';
import { loadById, toOne } from '../read/engine.ts';
import { defineModel } from '../read/model.ts';
import { Client, clientModel } from './client.ts';
import { RoleEnum } from './enums.ts';
import { payloadQuery } from './lists.ts';

/** What the read engine reads for a user (src/read/); never the password hash. */
export const userModel = defineModel({
  typename: 'User',
  table: 'users',
  columns: {
    name: 'text',
    email: 'text',
    role: 'enum',
    clientId: 'int',
    createdAt: 'timestamptz',
  },
  relations: { client: { model: () => clientModel, fk: 'client_id', nullable: true } },
  // Visibility of a user row (auth/rules.ts rowVisible) and of its e-mail read both.
  always: ['role', 'clientId'],
});

export const User = builder.prismaNode('User', {
  id: { field: 'id' },
  nullable: true,
  fields: (t) => ({
    name: t.exposeString('name'),
    email: t.string({
      nullable: true,
      description: 'Visible to agency staff, and to users of the same client.',
      resolve: (user, _args, ctx) => {
        const viewer = requireViewer(ctx);
        if (viewer.role !== 'CLIENT') return user.email;
        return user.clientId === viewer.clientId ? user.email : null;
      },
    }),
    role: t.expose('role', { type: RoleEnum }),
    client: t.field({
      type: Client,
      nullable: true,
      resolve: toOne(() => clientModel, 'client', 'clientId'),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.queryField('viewer', (t) =>
  t.field({
    type: User,
    nullable: true,
    description: 'The signed-in user, or null without a valid token.',
    resolve: (_root, _args, ctx, info) =>
      ctx.viewer ? (loadById(ctx, info, userModel, ctx.viewer.id) as never) : null,
  }),
);

builder.relayMutationField(
  'login',
  {
    inputFields: (t) => ({
      email: t.string({ required: true }),
      password: t.string({ required: true }),
    }),
  },
  {
    resolve: async (_root, { input }, ctx, info) => {
      const email = input.email.trim().toLowerCase();
      const user = await ctx.prisma.user.findUnique({
        ...payloadQuery(ctx, info, 'viewer'),
        where: { email },
      });
      // Verify against a decoy when the email is unknown so timing does not reveal accounts.
      const ok = await verifyPassword(user?.passwordHash ?? (await decoyHash), input.password);
      if (!user || !ok) {
        throw typedError('UNAUTHENTICATED', 'Email or password is incorrect', {
          field: 'input.password',
        });
      }
      const token = await ctx.tokens.sign({
        id: user.id,
        role: user.role,
        clientId: user.clientId,
      });
      ctx.viewer = { id: user.id, role: user.role, clientId: user.clientId };
      return { token, viewer: user, expiresIn: ctx.tokens.ttlS };
    },
  },
  {
    outputFields: (t) => ({
      token: t.string({
        description: 'Send as `Authorization: Bearer <token>`.',
        resolve: (p) => p.token,
      }),
      expiresIn: t.int({
        description: 'Seconds until the token expires.',
        resolve: (p) => p.expiresIn,
      }),
      viewer: t.field({ type: User, resolve: (p) => p.viewer }),
    }),
  },
);
