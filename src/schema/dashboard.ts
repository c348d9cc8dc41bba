import { clientScope, requireViewer } from '../auth/rules.ts';
import { builder } from '../builder.ts';
import { Prisma } from '../db/prisma.ts';
import { notFound } from '../errors.ts';
import { PlatformEnum, PostStatusEnum, ProjectStatusEnum } from './enums.ts';
import { optionalId } from './validate.ts';

interface Stats {
  clientId: number | null;
  postsByStatus: { status: string; count: number }[];
  postsByPlatform: { platform: string; count: number }[];
  projectsByStatus: { status: string; count: number }[];
  overdueDeliverables: number;
  postsScheduledNext7Days: number;
}

const PostStatusCount = builder.objectRef<{ status: string; count: number }>('PostStatusCount');
PostStatusCount.implement({
  fields: (t) => ({
    status: t.field({ type: PostStatusEnum, resolve: (r) => r.status as never }),
    count: t.exposeInt('count'),
  }),
});
const PlatformCount = builder.objectRef<{ platform: string; count: number }>('PlatformCount');
PlatformCount.implement({
  fields: (t) => ({
    platform: t.field({ type: PlatformEnum, resolve: (r) => r.platform as never }),
    count: t.exposeInt('count'),
  }),
});
const ProjectStatusCount = builder.objectRef<{ status: string; count: number }>(
  'ProjectStatusCount',
);
ProjectStatusCount.implement({
  fields: (t) => ({
    status: t.field({ type: ProjectStatusEnum, resolve: (r) => r.status as never }),
    count: t.exposeInt('count'),
  }),
});

const DashboardStats = builder.objectRef<Stats>('DashboardStats');
DashboardStats.implement({
  description: 'Counts for a client, or for the whole agency when no client is given.',
  fields: (t) => ({
    postsByStatus: t.field({ type: [PostStatusCount], resolve: (s) => s.postsByStatus }),
    postsByPlatform: t.field({ type: [PlatformCount], resolve: (s) => s.postsByPlatform }),
    projectsByStatus: t.field({ type: [ProjectStatusCount], resolve: (s) => s.projectsByStatus }),
    overdueDeliverables: t.int({
      description: 'Deliverables due before today and not yet approved or delivered.',
      resolve: (s) => s.overdueDeliverables,
    }),
    postsScheduledNext7Days: t.int({ resolve: (s) => s.postsScheduledNext7Days }),
  }),
});

builder.queryField('dashboardStats', (t) =>
  t.field({
    type: DashboardStats,
    args: { clientId: t.arg.id({ description: 'Staff may omit it for agency-wide counts.' }) },
    resolve: async (_root, args, ctx) => {
      const viewer = requireViewer(ctx);
      const asked = optionalId('clientId', args.clientId, 'Client');
      const scope = clientScope(viewer);
      if (scope !== null && asked !== undefined && asked !== scope) {
        throw notFound('clientId', `No client with ID ${args.clientId}`);
      }
      const clientId = scope ?? asked ?? null;
      const byClient = clientId === null ? Prisma.sql`TRUE` : Prisma.sql`client_id = ${clientId}`;
      const [posts, projects, overdue, scheduled] = await Promise.all([
        ctx.prisma.$queryRaw<{ status: string; platform: string; n: number }[]>(
          Prisma.sql`SELECT status::text, platform::text, count(*)::int4 AS n FROM posts WHERE ${byClient} GROUP BY 1, 2`,
        ),
        ctx.prisma.$queryRaw<{ status: string; n: number }[]>(
          Prisma.sql`SELECT status::text, count(*)::int4 AS n FROM projects WHERE ${byClient} GROUP BY 1`,
        ),
        ctx.prisma.$queryRaw<{ n: number }[]>(
          Prisma.sql`SELECT count(*)::int4 AS n FROM deliverables WHERE ${byClient}
            AND due_date < CURRENT_DATE AND status NOT IN ('APPROVED', 'DELIVERED')`,
        ),
        ctx.prisma.$queryRaw<{ n: number }[]>(
          Prisma.sql`SELECT count(*)::int4 AS n FROM posts WHERE ${byClient}
            AND scheduled_at >= now() AND scheduled_at < now() + interval '7 days'`,
        ),
      ]);
      if (clientId !== null && asked !== undefined) {
        const exists = await ctx.prisma.client.count({ where: { id: clientId } });
        if (!exists) throw notFound('clientId', `No client with ID ${args.clientId}`);
      }
      const sum = (rows: { n: number }[], key: (r: never) => string) => {
        const out = new Map<string, number>();
        for (const r of rows) out.set(key(r as never), (out.get(key(r as never)) ?? 0) + r.n);
        return out;
      };
      const byStatus = sum(posts, (r: { status: string }) => r.status);
      const byPlatform = sum(posts, (r: { platform: string }) => r.platform);
      return {
        clientId,
        postsByStatus: [...byStatus].map(([status, count]) => ({ status, count })),
        postsByPlatform: [...byPlatform].map(([platform, count]) => ({ platform, count })),
        projectsByStatus: projects.map((r) => ({ status: r.status, count: r.n })),
        overdueDeliverables: overdue[0]?.n ?? 0,
        postsScheduledNext7Days: scheduled[0]?.n ?? 0,
      };
    },
  }),
);
