import { addressKey, clientAddress, type NodeServerContext } from '../auth/client-address.ts';
import { decoyHash, verifyPassword } from '../auth/passwords.ts';
import { requireRole, requireViewer } from '../auth/rules.ts';
import type { AuthServices } from '../auth/services.ts';
import { builder } from '../builder.ts';
import { announceWrites } from '../cache/writes.ts';
import type { Context } from '../context.ts';
import { Prisma } from '../db/prisma.ts';
import { badInput, notFound, tooManyRequests, typedError, unauthenticated } from '../errors.ts';
import type { Role } from '../generated/prisma/enums.ts';
import { encodeGlobalId } from '../global-id.ts';
import { loadById, toOne } from '../read/engine.ts';
import { defineModel } from '../read/model.ts';
import { Client, clientModel } from './client.ts';
import { RoleEnum } from './enums.ts';
import { payloadQuery } from './lists.ts';
import { idOf, optionalId } from './validate.ts';

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
    deactivatedAt: 'timestamptz',
  },
  relations: { client: { model: () => clientModel, fk: 'client_id', nullable: true } },
  computed: { active: ['deactivatedAt'] },
  // Visibility of a user row (auth/rules.ts rowVisible) and of its e-mail read both.
  always: ['role', 'clientId'],
});

export const User = builder.prismaNode('User', {
  id: { field: 'id' },
  nullable: true,
  description:
    "A person who signs in: agency staff (ADMIN, MANAGER, EDITOR) or a user of one client (CLIENT). CLIENT users see staff and their own client's users only.",
  fields: (t) => ({
    name: t.exposeString('name', { description: 'Display name.' }),
    email: t.string({
      nullable: true,
      description:
        "Sign-in e-mail, lower-cased. Null when a CLIENT user looks at staff or at another client's user.",
      resolve: (user, _args, ctx) => {
        const viewer = requireViewer(ctx);
        if (viewer.role !== 'CLIENT') return user.email;
        return user.clientId === viewer.clientId ? user.email : null;
      },
    }),
    role: t.expose('role', { type: RoleEnum, description: 'What the user may see and do.' }),
    client: t.field({
      type: Client,
      nullable: true,
      description: 'The client a CLIENT user belongs to; null for staff.',
      resolve: toOne(() => clientModel, 'client', 'clientId'),
    }),
    active: t.boolean({
      description: 'False while deactivated: the user cannot sign in and every token is refused.',
      resolve: (user) => user.deactivatedAt === null,
    }),
    createdAt: t.expose('createdAt', {
      type: 'DateTime',
      description: 'When the user was created.',
    }),
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

function authOf(ctx: Context): AuthServices {
  if (!ctx.auth) throw new Error('sign-in services are not set up (createApp sets them)');
  return ctx.auth;
}

builder.relayMutationField(
  'login',
  {
    description: 'E-mail and password of an active user.',
    inputFields: (t) => ({
      email: t.string({
        required: true,
        description: 'Compared case-insensitively, ignoring surrounding spaces.',
      }),
      password: t.string({ required: true, description: 'The password, as typed.' }),
    }),
  },
  {
    description:
      'Signs in and returns a bearer token; needs no token. A wrong e-mail or password, or a deactivated account, is UNAUTHENTICATED; too many failures for the e-mail or from the address (5 and 20 per 15 minutes by default) are TOO_MANY_REQUESTS with `extensions.retryAfter` seconds.',
    resolve: async (_root, { input }, ctx, info) => {
      const auth = authOf(ctx);
      const email = input.email.trim().toLowerCase();
      const address = clientAddress(
        ctx.request,
        ctx as Context & NodeServerContext,
        auth.trustProxyHops,
      );
      const from = address ? addressKey(address) : null;
      // Counted before the password is checked (and refused without checking it), so parallel
      // attempts cannot slip under the limit. Unknown e-mails count like known ones.
      const { retryAfterMs } = await auth.throttle.attempt(email, from);
      if (retryAfterMs > 0) {
        const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
        throw tooManyRequests(`Too many failed sign-ins; try again in ${seconds} seconds`, seconds);
      }
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
      if (user.deactivatedAt) {
        throw typedError('UNAUTHENTICATED', 'This account is deactivated; ask an administrator', {
          field: 'input.email',
        });
      }
      await auth.throttle.succeeded(email, from);
      auth.accounts.remember(user);
      const token = await ctx.tokens.sign({
        id: user.id,
        role: user.role,
        clientId: user.clientId,
        version: user.tokenVersion,
      });
      ctx.viewer = { id: user.id, role: user.role, clientId: user.clientId };
      return { token, viewer: user, expiresIn: ctx.tokens.ttlS };
    },
  },
  {
    description: 'A signed-in session.',
    outputFields: (t) => ({
      token: t.string({
        description: 'Send as `Authorization: Bearer <token>`.',
        resolve: (p) => p.token,
      }),
      expiresIn: t.int({
        description: 'Seconds until the token expires.',
        resolve: (p) => p.expiresIn,
      }),
      viewer: t.field({
        type: User,
        description: 'The user now signed in.',
        resolve: (p) => p.viewer,
      }),
    }),
  },
);

const LogoutPayload = builder
  .objectRef<{ viewer: { id: number } | null }>('LogoutPayload')
  .implement({
    description: 'The result of `logout`.',
    fields: (t) => ({
      viewer: t.field({
        type: User,
        nullable: true,
        description: 'The user who signed out.',
        resolve: (p) => p.viewer as never,
      }),
    }),
  });

builder.mutationField('logout', (t) =>
  t.field({
    type: LogoutPayload,
    description:
      'Signs the caller out everywhere: every token issued to them so far is refused, on every ' +
      'instance, within AUTH_RECHECK_MS. Sign in again for a new one.',
    resolve: async (_root, _args, ctx, info) => {
      const viewer = requireViewer(ctx);
      try {
        const user = await ctx.prisma.user.update({
          ...payloadQuery(ctx, info, 'viewer'),
          where: { id: viewer.id },
          data: { tokenVersion: { increment: 1 } },
        });
        return { viewer: user };
      } catch (err) {
        if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2025') {
          throw unauthenticated('The token is invalid or expired; sign in again');
        }
        throw err;
      } finally {
        authOf(ctx).accounts.forget(viewer.id);
      }
    },
  }),
);

// ---- user management (ADMIN) -------------------------------------------------------------

const ADMINS: readonly Role[] = ['ADMIN'];

interface LockedUser {
  id: number;
  role: Role;
  client_id: number | null;
  deactivated_at: Date | null;
}

/**
 * Locks the active admins, then the user, for the rest of the transaction. Always in this
 * order, so concurrent changes queue instead of deadlocking, and two admins demoting each
 * other cannot both succeed.
 */
async function lockForChange(tx: Prisma.TransactionClient, id: number, globalId: string) {
  const admins = await tx.$queryRaw<{ id: number }[]>`
    SELECT id FROM users WHERE role = 'ADMIN' AND deactivated_at IS NULL ORDER BY id FOR UPDATE`;
  const [user] = await tx.$queryRaw<LockedUser[]>`
    SELECT id, role, client_id, deactivated_at FROM users WHERE id = ${id} FOR UPDATE`;
  if (!user) throw notFound('input.id', `No user with ID ${globalId}`);
  const lastAdmin = (field: string) => {
    if (!admins.some((a) => a.id !== id)) {
      throw badInput(field, 'This is the last active ADMIN: make another user ADMIN first');
    }
  };
  return { user, lastAdmin };
}

builder.relayMutationField(
  'updateUser',
  {
    description: 'Changes to one user; omitted fields stay as they are.',
    inputFields: (t) => ({
      id: t.id({ required: true, description: 'The user to change.' }),
      role: t.field({
        type: RoleEnum,
        description: 'New role. Demoting or deactivating the last active ADMIN is BAD_USER_INPUT.',
      }),
      clientId: t.id({
        description:
          'The client of a CLIENT user (required when making a user CLIENT); staff belong to none, so giving it for staff is BAD_USER_INPUT.',
      }),
      active: t.boolean({
        description: 'false deactivates: no sign-in, and every token of the user is refused.',
      }),
    }),
  },
  {
    description:
      'ADMIN only (FORBIDDEN otherwise). Changing role, client or active signs the user out ' +
      'everywhere (within AUTH_RECHECK_MS, 2 s by default). An unknown user or client is NOT_FOUND.',
    resolve: async (_root, { input }, ctx, info) => {
      requireRole(ctx, ADMINS, 'manage users');
      const id = idOf('input.id', input.id, 'User');
      const clientId = optionalId('input.clientId', input.clientId, 'Client');
      const user = await ctx.prisma.$transaction(async (tx) => {
        const { user: existing, lastAdmin } = await lockForChange(tx, id, input.id);
        const role = input.role ?? existing.role;
        const active = input.active ?? existing.deactivated_at === null;
        let nextClientId: number | null = null;
        if (role === 'CLIENT') {
          nextClientId = clientId ?? existing.client_id;
          if (nextClientId === null) {
            throw badInput('input.clientId', 'A CLIENT user needs `input.clientId`');
          }
        } else if (clientId !== undefined) {
          throw badInput('input.clientId', `A ${role} user belongs to no client`);
        }
        if (clientId !== undefined) {
          const client = await tx.client.findUnique({
            where: { id: clientId },
            select: { id: true },
          });
          if (!client) throw notFound('input.clientId', `No client with ID ${input.clientId}`);
        }
        if (existing.role === 'ADMIN' && existing.deactivated_at === null) {
          if (!active) lastAdmin('input.active');
          if (role !== 'ADMIN') lastAdmin('input.role');
        }
        return tx.user.update({
          ...payloadQuery(ctx, info, 'user'),
          where: { id },
          data: {
            role,
            clientId: nextClientId,
            deactivatedAt: active ? null : (existing.deactivated_at ?? new Date()),
          },
        });
      });
      authOf(ctx).accounts.forget(id);
      await announceWrites(ctx, [{ typename: 'User', id, states: [{}] }]);
      return { user };
    },
  },
  {
    description: 'The result of `updateUser`.',
    outputFields: (t) => ({
      user: t.field({ type: User, description: 'The user as changed.', resolve: (p) => p.user }),
    }),
  },
);

builder.relayMutationField(
  'deleteUser',
  {
    description: 'The user to delete.',
    inputFields: (t) => ({
      id: t.id({ required: true, description: 'The user to delete (NOT_FOUND if unknown).' }),
    }),
  },
  {
    description:
      'ADMIN only. A user who wrote posts cannot be deleted (BAD_USER_INPUT: the posts keep ' +
      'their author): deactivate them with updateUser(active: false). Deliverables assigned to ' +
      'the user become unassigned; the last active ADMIN cannot be deleted.',
    resolve: async (_root, { input }, ctx) => {
      requireRole(ctx, ADMINS, 'manage users');
      const id = idOf('input.id', input.id, 'User');
      const authored = () =>
        badInput(
          'input.id',
          'This user wrote posts, which keep their author: deactivate the user instead ' +
            '(`updateUser` with `active: false`)',
        );
      try {
        await ctx.prisma.$transaction(async (tx) => {
          const { user, lastAdmin } = await lockForChange(tx, id, input.id);
          if (user.role === 'ADMIN' && user.deactivated_at === null) lastAdmin('input.id');
          const [wrote] = await tx.$queryRaw<{ any: boolean }[]>`
            SELECT EXISTS (SELECT 1 FROM posts WHERE author_id = ${id}) AS any`;
          if (wrote?.any) throw authored();
          await tx.user.delete({ where: { id } });
        });
      } catch (err) {
        // A post written between the check and the delete.
        if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2003') {
          throw authored();
        }
        throw err;
      }
      authOf(ctx).accounts.forget(id);
      await announceWrites(ctx, [{ typename: 'User', id, states: [{}] }]);
      return { id };
    },
  },
  {
    description: 'The result of `deleteUser`.',
    outputFields: (t) => ({
      deletedUserId: t.id({
        description: 'Global ID of the deleted user; evict it from client caches.',
        resolve: (p) => encodeGlobalId('User', p.id),
      }),
    }),
  },
);
