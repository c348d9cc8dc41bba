/**
 * Creates up to 10,000 draft posts for a project from title/body templates, spread over a
 * date range and a list of platforms, in batches of one INSERT each. Every post carries the
 * key `<job id>:<index>` (unique), so a batch that runs again adds nothing.
 */
import { z } from 'zod';
import { announceWrites } from '../../cache/writes.ts';
import { pgSql, scheduleAnalytics } from '../queue.ts';
import { defineTask, PermanentJobError } from '../task.ts';

export const PLATFORMS = ['INSTAGRAM', 'FACEBOOK', 'LINKEDIN', 'X', 'TIKTOK', 'BLOG'] as const;
export const MAX_GENERATED_POSTS = 10_000;
const BATCH_SIZE = 1000;

export const generatePostsPayload = z
  .object({
    projectId: z.number().int().positive(),
    authorId: z.number().int().positive(),
    count: z.number().int().min(1).max(MAX_GENERATED_POSTS),
    platforms: z.array(z.enum(PLATFORMS)).min(1),
    from: z.iso.datetime({ offset: true }),
    to: z.iso.datetime({ offset: true }),
    titleTemplate: z.string().min(1).max(300),
    bodyTemplate: z.string().min(1).max(20_000),
    batchSize: z.number().int().min(1).max(5000).optional(),
  })
  .refine((p) => Date.parse(p.from) <= Date.parse(p.to), '`from` must not be after `to`');
export type GeneratePostsPayload = z.infer<typeof generatePostsPayload>;

/** `{n}` index from 1, `{platform}`, `{date}` (YYYY-MM-DD), `{project}` project name. */
export function fillTemplate(template: string, vars: Record<string, string>): string {
  return template.replace(/\{(n|platform|date|project)\}/g, (_, k: string) => vars[k] ?? '');
}

export default defineTask({
  kind: 'generatePosts',
  payload: generatePostsPayload,
  async run(p, { services, job, progress, checkpoint }) {
    const sql = pgSql(services.pool);
    const [project] = await sql<{ id: number; client_id: number; name: string }>(
      'SELECT id, client_id, name FROM projects WHERE id = $1',
      [p.projectId],
    );
    if (!project) throw new PermanentJobError(`Project ${p.projectId} no longer exists`);
    const from = Date.parse(p.from);
    const span = Date.parse(p.to) - from;
    const size = p.batchSize ?? BATCH_SIZE;
    let inserted = 0;
    for (let start = 0; start < p.count; start += size) {
      await checkpoint();
      const end = Math.min(p.count, start + size);
      const titles: string[] = [];
      const bodies: string[] = [];
      const platforms: string[] = [];
      const times: string[] = [];
      const keys: string[] = [];
      for (let i = start; i < end; i++) {
        const at = new Date(from + (p.count > 1 ? Math.floor((span * i) / (p.count - 1)) : 0));
        const platform = p.platforms[i % p.platforms.length] as string;
        const vars = {
          n: String(i + 1),
          platform,
          date: at.toISOString().slice(0, 10),
          project: project.name,
        };
        titles.push(fillTemplate(p.titleTemplate, vars).slice(0, 300));
        bodies.push(fillTemplate(p.bodyTemplate, vars).slice(0, 20_000));
        platforms.push(platform);
        times.push(at.toISOString());
        keys.push(`${job.id}:${i}`);
      }
      const rows = await sql<{ id: number }>(
        `INSERT INTO posts (project_id, client_id, author_id, title, body, platform, status,
           scheduled_at, tags, generation_key, updated_at)
         SELECT $1, $2, $3, g.title, g.body, g.platform::"Platform", 'DRAFT', g.at,
           ARRAY['generated'], g.key, now()
         FROM unnest($4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::text[])
           AS g(title, body, platform, at, key)
         ON CONFLICT (generation_key) DO NOTHING
         RETURNING id`,
        [project.id, project.client_id, p.authorId, titles, bodies, platforms, times, keys],
      );
      inserted += rows.length;
      const first = rows[0];
      if (first) {
        // One event per distinct platform of the batch: new DRAFT posts in this project.
        await announceWrites(
          services,
          [...new Set(platforms)].map((platform) => ({
            typename: 'Post' as const,
            id: first.id,
            states: [{ c: project.client_id, pr: project.id, s: 'DRAFT', p: platform }],
          })),
        );
      }
      await progress((end * 100) / p.count);
    }
    await scheduleAnalytics(sql, services.config.jobs.analyticsDebounceMs);
    await announceWrites(services, [{ typename: 'Project', id: project.id, states: [] }]);
    return { projectId: project.id, requested: p.count, insertedThisRun: inserted };
  },
});
