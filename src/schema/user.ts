import { decoyHash, verifyPassword } from '../auth/passwords.ts';
import { requireViewer } from '../auth/rules.ts';
import { builder } from '../builder.ts';
import { typedError } from '../errors.ts';
import { RoleEnum } from './enums.ts';
import { payloadQuery } from './lists.ts';

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
    client: t.relation('client', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.queryField('viewer', (t) =>
  t.prismaField({
    type: User,
    nullable: true,
    description: 'The signed-in user, or null without a valid token.',
    resolve: (query, _root, _args, ctx) =>
      ctx.viewer ? ctx.prisma.user.findUnique({ ...query, where: { id: ctx.viewer.id } }) : null,
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
