import { clientScope, requireViewer } from '../auth/rules.ts';
import { builder } from '../builder.ts';
import { listTags } from '../cache/tags.ts';
import type { Context } from '../context.ts';
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

type PostCounts =
  | {
      live: { status: string; platform: string; n: number }[];
      byStatus?: never;
      byPlatform?: never;
    }
  | { live: never[]; byStatus: Map<string, number>; byPlatform: Map<string, number> };

/**
 * Posts by status and by platform. From today's `analytics_daily` rollup (computeAnalytics)
 * when it is provably current for the scope: a row for every project, computed after the
 * latest post write, and the same number of posts (which catches deletes and moves out);
 * otherwise counted live.
 */
async function postCounts(ctx: Context, byClient: Prisma.Sql): Promise<PostCounts> {
  const today = Prisma.sql`day = (now() AT TIME ZONE 'UTC')::date`;
  const [check] = await ctx.prisma.$queryRaw<{ fresh: boolean | null }[]>(
    Prisma.sql`WITH r AS (SELECT count(*)::int4 AS n, min(computed_at) AS at, coalesce(sum(posts_total), 0)::int4 AS total
        FROM analytics_daily WHERE ${today} AND ${byClient})
      SELECT r.n > 0 AND r.n = (SELECT count(*)::int4 FROM projects WHERE ${byClient})
        AND r.at >= coalesce((SELECT max(updated_at) FROM posts WHERE ${byClient}), '-infinity'::timestamptz)
        AND r.total = (SELECT count(*)::int4 FROM posts WHERE ${byClient}) AS fresh FROM r`,
  );
  if (check?.fresh) {
    const rows = await ctx.prisma.$queryRaw<{ dim: string; k: string; n: number }[]>(
      Prisma.sql`SELECT 's' AS dim, e.k, sum(e.v::int4)::int4 AS n FROM analytics_daily a,
          jsonb_each_text(a.posts_by_status) AS e(k, v) WHERE ${today} AND ${byClient} GROUP BY 2
        UNION ALL
        SELECT 'p' AS dim, e.k, sum(e.v::int4)::int4 AS n FROM analytics_daily a,
          jsonb_each_text(a.posts_by_platform) AS e(k, v) WHERE ${today} AND ${byClient} GROUP BY 2`,
    );
    const pick = (dim: string) =>
      new Map(rows.filter((r) => r.dim === dim && r.n > 0).map((r) => [r.k, r.n]));
    return { live: [], byStatus: pick('s'), byPlatform: pick('p') };
  }
  const live = await ctx.prisma.$queryRaw<{ status: string; platform: string; n: number }[]>(
    Prisma.sql`SELECT status::text, platform::text, count(*)::int4 AS n FROM posts WHERE ${byClient} GROUP BY 1, 2`,
  );
  return { live };
}

const PostStatusCount = builder.objectRef<{ status: string; count: number }>('PostStatusCount');
PostStatusCount.implement({
  description: 'How many posts have one status.',
  fields: (t) => ({
    status: t.field({
      type: PostStatusEnum,
      description: 'The status.',
      resolve: (r) => r.status as never,
    }),
    count: t.exposeInt('count', { description: 'Posts with it; more than 0.' }),
  }),
});
const PlatformCount = builder.objectRef<{ platform: string; count: number }>('PlatformCount');
PlatformCount.implement({
  description: 'How many posts are for one platform.',
  fields: (t) => ({
    platform: t.field({
      type: PlatformEnum,
      description: 'The platform.',
      resolve: (r) => r.platform as never,
    }),
    count: t.exposeInt('count', { description: 'Posts for it; more than 0.' }),
  }),
});
const ProjectStatusCount = builder.objectRef<{ status: string; count: number }>(
  'ProjectStatusCount',
);
ProjectStatusCount.implement({
  description: 'How many projects have one status.',
  fields: (t) => ({
    status: t.field({
      type: ProjectStatusEnum,
      description: 'The status.',
      resolve: (r) => r.status as never,
    }),
    count: t.exposeInt('count', { description: 'Projects with it; more than 0.' }),
  }),
});

const DashboardStats = builder.objectRef<Stats>('DashboardStats');
DashboardStats.implement({
  description: 'Counts for a client, or for the whole agency when no client is given.',
  fields: (t) => ({
    postsByStatus: t.field({
      type: [PostStatusCount],
      description: 'Posts per status; statuses without posts are left out.',
      resolve: (s) => s.postsByStatus,
    }),
    postsByPlatform: t.field({
      type: [PlatformCount],
      description: 'Posts per platform; platforms without posts are left out.',
      resolve: (s) => s.postsByPlatform,
    }),
    projectsByStatus: t.field({
      type: [ProjectStatusCount],
      description: 'Projects per status; statuses without projects are left out.',
      resolve: (s) => s.projectsByStatus,
    }),
    overdueDeliverables: t.int({
      description: 'Deliverables due before today and not yet approved or delivered.',
      resolve: (s) => s.overdueDeliverables,
    }),
    postsScheduledNext7Days: t.int({
      description: 'Posts whose `scheduledAt` falls within the next 7 × 24 hours from now.',
      resolve: (s) => s.postsScheduledNext7Days,
    }),
  }),
});

builder.queryField('dashboardStats', (t) =>
  t.field({
    type: DashboardStats,
    description:
      "Counts for one client's dashboard, or the whole agency's. A CLIENT user always gets their own client's counts.",
    args: {
      clientId: t.arg.id({
        description:
          "A Client ID. Staff may omit it for agency-wide counts; an unknown client, or another client than a CLIENT user's own, is NOT_FOUND.",
      }),
    },
    resolve: async (_root, args, ctx) => {
      const viewer = requireViewer(ctx);
      const asked = optionalId('clientId', args.clientId, 'Client');
      const scope = clientScope(viewer);
      if (scope !== null && asked !== undefined && asked !== scope) {
        throw notFound('clientId', `No client with ID ${args.clientId}`);
      }
      const clientId = scope ?? asked ?? null;
      ctx.recordCacheTags(listTags('Dashboard', { c: clientId }));
      const byClient = clientId === null ? Prisma.sql`TRUE` : Prisma.sql`client_id = ${clientId}`;
      const [posts, projects, overdue, scheduled] = await Promise.all([
        postCounts(ctx, byClient),
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
      const byStatus = posts.byStatus ?? sum(posts.live, (r: { status: string }) => r.status);
      const byPlatform =
        posts.byPlatform ?? sum(posts.live, (r: { platform: string }) => r.platform);
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
