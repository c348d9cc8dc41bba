/**
 * Rolls posts up into `analytics_daily`: one row per project and day (UTC) with totals, posts
 * created and published that day, and counts by status and by platform. Per-client figures
 * are sums of the client's rows. Upserts, so running it twice gives the same rows. Runs
 * after writes (debounced with a job key), nightly from the crontab, and on demand.
 */
import { z } from 'zod';
import { pgSql } from '../queue.ts';
import { defineTask } from '../task.ts';

export const computeAnalyticsPayload = z.object({
  /** A UTC day (YYYY-MM-DD); default today. */
  day: z.iso.date().optional(),
});

export const ROLLUP_SQL = `
WITH day AS (SELECT coalesce($1::date, (now() AT TIME ZONE 'UTC')::date) AS d),
g AS (
  SELECT po.project_id, po.status::text AS s, po.platform::text AS pf, count(*)::int AS n,
    count(*) FILTER (WHERE po.created_at >= day.d AND po.created_at < day.d + 1)::int AS created,
    count(*) FILTER (WHERE po.published_at >= day.d AND po.published_at < day.d + 1)::int AS published
  FROM posts po, day GROUP BY 1, 2, 3),
st AS (SELECT project_id, jsonb_object_agg(s, n) AS j
       FROM (SELECT project_id, s, sum(n)::int AS n FROM g GROUP BY 1, 2) x GROUP BY 1),
pl AS (SELECT project_id, jsonb_object_agg(pf, n) AS j
       FROM (SELECT project_id, pf, sum(n)::int AS n FROM g GROUP BY 1, 2) x GROUP BY 1),
tot AS (SELECT project_id, sum(n)::int AS n, sum(created)::int AS c, sum(published)::int AS p
        FROM g GROUP BY 1)
INSERT INTO analytics_daily (day, project_id, client_id, posts_total, posts_created,
  posts_published, posts_by_status, posts_by_platform, computed_at)
SELECT day.d, pr.id, pr.client_id, coalesce(tot.n, 0), coalesce(tot.c, 0), coalesce(tot.p, 0),
  coalesce(st.j, '{}'), coalesce(pl.j, '{}'), now()
FROM projects pr CROSS JOIN day
LEFT JOIN tot ON tot.project_id = pr.id LEFT JOIN st ON st.project_id = pr.id
LEFT JOIN pl ON pl.project_id = pr.id
ON CONFLICT (day, project_id) DO UPDATE SET client_id = excluded.client_id,
  posts_total = excluded.posts_total, posts_created = excluded.posts_created,
  posts_published = excluded.posts_published, posts_by_status = excluded.posts_by_status,
  posts_by_platform = excluded.posts_by_platform, computed_at = excluded.computed_at
RETURNING project_id`;

export default defineTask({
  kind: 'computeAnalytics',
  payload: computeAnalyticsPayload,
  untracked: true,
  async run(p, { services }) {
    const sql = pgSql(services.pool);
    // computed_at is the statement's start: a write racing the scan looks newer than the rollup,
    // so dashboardStats reads live counts until the next run.
    const rows = await sql<{ project_id: number }>(ROLLUP_SQL, [p.day ?? null]);
    return { projects: rows.length, day: p.day ?? new Date().toISOString().slice(0, 10) };
  },
});
