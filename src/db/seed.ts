/**
 * Deterministic demo data, inserted set-based (INSERT ... SELECT FROM generate_series), so a
 * million posts take minutes, not hours. Every "random" choice is a hash of the row number,
 * so two seeds of the same size hold the same rows; dates are relative to the day of seeding
 * so "scheduled in the next 7 days" always has something to show.
 */
import type pg from 'pg';
import { hashPassword } from '../auth/passwords.ts';

export const DEMO_PASSWORD = 'postline-demo';
export const DEMO_USERS = [
  { email: 'admin@postline.dev', name: 'Ada Admin', role: 'ADMIN' },
  { email: 'manager@postline.dev', name: 'Mona Manager', role: 'MANAGER' },
  { email: 'editor@postline.dev', name: 'Eddie Editor', role: 'EDITOR' },
  { email: 'client1@postline.dev', name: 'Cleo Client', role: 'CLIENT' },
] as const;

export interface SeedOptions {
  posts: number;
  clients?: number;
  projectsPerClient?: number;
  deliverablesPerProject?: number;
  staff?: number;
  log?: (message: string) => void;
}

const SEED_LOCK_KEY = 7_230_184_552;

/** `abs(hashint4(n + salt)) % m`: a stable pseudo-random integer in [0, m). */
const h = (expr: string, salt: number, m: number) => `(abs(hashint4((${expr}) + ${salt})) % ${m})`;

/** Picks from weighted choices with a stable hash of `expr`. */
function weighted(expr: string, salt: number, choices: [string, number][]): string {
  const total = choices.reduce((s, [, w]) => s + w, 0);
  let acc = 0;
  const arms = choices.map(([value, w]) => {
    acc += w;
    return `WHEN ${h(expr, salt, total)} < ${acc} THEN '${value}'`;
  });
  return `(CASE ${arms.join(' ')} END)`;
}

const INDUSTRIES = [
  'Retail',
  'Hospitality',
  'Technology',
  'Healthcare',
  'Finance',
  'Education',
  'Fashion',
  'Food & Beverage',
  'Real Estate',
  'Non-profit',
  'Travel',
  'Fitness',
];
const CLIENT_WORDS = [
  'Northwind',
  'Bluebird',
  'Evergreen',
  'Summit',
  'Harbor',
  'Lumen',
  'Copper',
  'Juniper',
  'Atlas',
  'Meridian',
  'Orchard',
  'Granite',
  'Willow',
  'Beacon',
  'Cedar',
  'Falcon',
  'Aurora',
  'Pioneer',
  'Sterling',
  'Cobalt',
];
const CLIENT_SUFFIX = [
  'Coffee',
  'Labs',
  'Outfitters',
  'Dental',
  'Bank',
  'Academy',
  'Studio',
  'Kitchen',
  'Homes',
  'Foundation',
  'Travel',
  'Fitness',
  'Bakery',
  'Clinic',
  'Works',
];
const PROJECT_KINDS = [
  'Spring campaign',
  'Product launch',
  'Always-on social',
  'Brand refresh',
  'Holiday push',
  'Recruitment drive',
  'Event coverage',
  'Content hub',
  'Newsletter relaunch',
  'Awareness month',
];
const TITLE_OPENERS = [
  'Behind the scenes',
  'Customer story',
  'Quick tip',
  'Weekly roundup',
  'Event recap',
  'Team spotlight',
  'How to',
  'Case study',
  'Announcement',
  'Myth vs fact',
  'Sneak peek',
  'Poll',
];
const TOPICS = [
  'our new menu',
  'the summer collection',
  'saving time on Mondays',
  'five ways to get started',
  'meet the founders',
  'what customers ask most',
  'the launch countdown',
  'sustainability goals',
  'a day in the studio',
  'community highlights',
  'pricing explained',
  'the year in numbers',
];
const SENTENCES = [
  'We have been working on something special and cannot wait to share it.',
  'Tell us in the comments what you would like to see next.',
  'Tap the link in our bio to learn more.',
  'Thanks to everyone who joined us last week.',
  'Here is what our team learned along the way.',
  'Save this post for later and share it with a friend.',
  'Our experts answer the questions we hear most often.',
  'Every detail was designed with you in mind.',
];
const TAGS = [
  'launch',
  'tips',
  'community',
  'behindthescenes',
  'product',
  'event',
  'hiring',
  'sustainability',
  'news',
  'howto',
];
const DELIVERABLE_KINDS = [
  'Social calendar',
  'Blog article',
  'Video edit',
  'Photo set',
  'Monthly report',
  'Newsletter',
  'Ad creative',
  'Landing page copy',
];

const sqlArray = (values: string[]) =>
  `ARRAY[${values.map((v) => `'${v.replaceAll("'", "''")}'`).join(',')}]`;
const pick = (values: string[], expr: string, salt: number) =>
  `(${sqlArray(values)})[1 + ${h(expr, salt, values.length)}]`;

/** Seeds into empty tables. Returns false (and does nothing) when users already exist. */
export async function seedIfEmpty(pool: pg.Pool, options: SeedOptions): Promise<boolean> {
  const client = await pool.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [SEED_LOCK_KEY]);
    const { rows } = await client.query<{ n: number }>('select count(*)::int as n from users');
    if ((rows[0]?.n ?? 0) > 0) return false;
    await seedWith(client, options);
    return true;
  } finally {
    await client.query('select pg_advisory_unlock($1)', [SEED_LOCK_KEY]).catch(() => {});
    client.release();
  }
}

/** Empties every domain table (keeps the migration history). */
export async function resetData(client: pg.ClientBase): Promise<void> {
  await client.query(
    'TRUNCATE posts, deliverables, projects, users, clients RESTART IDENTITY CASCADE',
  );
}

async function seedWith(client: pg.ClientBase, o: SeedOptions): Promise<void> {
  const log = o.log ?? (() => {});
  const clients = o.clients ?? 300;
  const perClient = o.projectsPerClient ?? 10;
  const perProject = o.deliverablesPerProject ?? 5;
  const staff = o.staff ?? 40;
  const projects = clients * perClient;
  const passwordHash = await hashPassword(DEMO_PASSWORD);
  const started = performance.now();
  const step = async (label: string, sql: string, params: unknown[] = []) => {
    const t = performance.now();
    const res = await client.query(sql, params);
    log(
      `seed: ${label} (${res.rowCount ?? 0} rows, ${((performance.now() - t) / 1000).toFixed(1)} s)`,
    );
  };

  await client.query('BEGIN');
  try {
    await client.query('SET LOCAL synchronous_commit = off');
    await step(
      'clients',
      `INSERT INTO clients (name, slug, industry, status, created_at, updated_at)
       SELECT name, lower(regexp_replace(name, '[^A-Za-z0-9]+', '-', 'g')) || '-' || g, ${pick(INDUSTRIES, 'g', 11)},
              (CASE WHEN g % 25 = 0 THEN 'ARCHIVED' ELSE 'ACTIVE' END)::"ClientStatus",
              date_trunc('day', now()) - (g || ' days')::interval, now()
       FROM (SELECT g, ${pick(CLIENT_WORDS, 'g', 12)} || ' ' || ${pick(CLIENT_SUFFIX, 'g', 13)} AS name
             FROM generate_series(1, $1::int) g) s
       ORDER BY g`,
      [clients],
    );
    await step(
      'users',
      `INSERT INTO users (email, name, password_hash, role, client_id, created_at, updated_at)
       SELECT email, name, $1::text, role::"Role", client_id, now(), now() FROM (
         VALUES ('admin@postline.dev', 'Ada Admin', 'ADMIN', NULL::int),
                ('manager@postline.dev', 'Mona Manager', 'MANAGER', NULL),
                ('editor@postline.dev', 'Eddie Editor', 'EDITOR', NULL)
         UNION ALL
         SELECT 'editor' || g || '@postline.dev', 'Editor ' || g, 'EDITOR', NULL FROM generate_series(2, $2::int) g
         UNION ALL
         SELECT 'client' || rn || '@postline.dev', 'Client user ' || rn, 'CLIENT', id
         FROM (SELECT id, row_number() OVER (ORDER BY id) rn FROM clients) c
       ) v(email, name, role, client_id)`,
      [passwordHash, staff],
    );
    await client.query(
      `UPDATE users SET name = 'Cleo Client' WHERE email = 'client1@postline.dev'`,
    );
    await step(
      'projects',
      `INSERT INTO projects (client_id, name, description, status, start_date, due_date, budget_cents, created_at, updated_at)
       SELECT c.id, ${pick(PROJECT_KINDS, 'g', 21)} || ' ' || (2024 + ${h('g', 22, 3)}),
              'Goals, audiences and channels for this piece of work.',
              ${weighted('g', 23, [
                ['ACTIVE', 45],
                ['PLANNING', 15],
                ['ON_HOLD', 8],
                ['COMPLETED', 25],
                ['ARCHIVED', 7],
              ])}::"ProjectStatus",
              (date_trunc('day', now()) - ((${h('g', 24, 400)}) || ' days')::interval)::date,
              CASE WHEN g % 9 = 0 THEN NULL ELSE (date_trunc('day', now()) + ((${h('g', 25, 240)} - 60) || ' days')::interval)::date END,
              (1000 + ${h('g', 26, 49000)}) * 100,
              date_trunc('day', now()) - interval '800 days' + (g::float / $1 * interval '790 days'),
              now()
       FROM generate_series(1, $1::int) g
       JOIN (SELECT id, row_number() OVER (ORDER BY id) rn FROM clients) c ON c.rn = 1 + (g - 1) % $2
       ORDER BY g`,
      [projects, clients],
    );
    await client.query(`CREATE TEMP TABLE seed_projects ON COMMIT DROP AS
      SELECT row_number() OVER (ORDER BY id)::int AS rn, id, client_id FROM projects`);
    await client.query(`CREATE TEMP TABLE seed_staff ON COMMIT DROP AS
      SELECT row_number() OVER (ORDER BY id)::int AS rn, id FROM users WHERE role <> 'CLIENT'`);
    await client.query('CREATE UNIQUE INDEX ON seed_projects (rn)');
    await client.query('CREATE UNIQUE INDEX ON seed_staff (rn)');
    await client.query('ANALYZE seed_projects');
    await client.query('ANALYZE seed_staff');
    const staffCount = staff + 2;

    // Posts in chunks so progress shows and memory stays flat.
    const chunk = 100_000;
    for (let from = 1; from <= o.posts; from += chunk) {
      const to = Math.min(o.posts, from + chunk - 1);
      await step(
        `posts ${from}-${to}`,
        `INSERT INTO posts (project_id, client_id, author_id, title, body, platform, status, scheduled_at, published_at, tags, created_at, updated_at)
         SELECT p.id, p.client_id, s.id,
                ${pick(TITLE_OPENERS, 'g', 31)} || ': ' || ${pick(TOPICS, 'g', 32)} || ' #' || g,
                ${pick(SENTENCES, 'g', 33)} || ' ' || ${pick(SENTENCES, 'g', 34)} || ' ' || ${pick(SENTENCES, 'g', 35)},
                x.platform::"Platform", x.status::"PostStatus",
                CASE x.status
                  WHEN 'SCHEDULED' THEN date_trunc('hour', now()) + ((1 + ${h('g', 36, 720)}) || ' hours')::interval
                  WHEN 'PUBLISHED' THEN x.created + ((1 + ${h('g', 37, 240)}) || ' hours')::interval
                  WHEN 'APPROVED' THEN CASE WHEN g % 2 = 0 THEN date_trunc('hour', now()) + ((24 + ${h('g', 38, 1440)}) || ' hours')::interval END
                END,
                CASE WHEN x.status = 'PUBLISHED' THEN x.created + ((1 + ${h('g', 37, 240)}) || ' hours')::interval END,
                ARRAY[${pick(TAGS, 'g', 39)}] || CASE WHEN g % 3 = 0 THEN ARRAY[${pick(TAGS, 'g', 40)}] ELSE ARRAY[]::text[] END,
                x.created, x.created + ((${h('g', 41, 72)}) || ' hours')::interval
         FROM generate_series($1::int, $2::int) g
         CROSS JOIN LATERAL (SELECT
             ${weighted('g', 42, [
               ['INSTAGRAM', 25],
               ['FACEBOOK', 15],
               ['LINKEDIN', 20],
               ['X', 15],
               ['TIKTOK', 15],
               ['BLOG', 10],
             ])} AS platform,
             ${weighted('g', 43, [
               ['PUBLISHED', 45],
               ['DRAFT', 20],
               ['IN_REVIEW', 10],
               ['APPROVED', 8],
               ['SCHEDULED', 10],
               ['ARCHIVED', 7],
             ])} AS status,
             date_trunc('day', now()) - interval '730 days' + (g::float / $3 * interval '729 days') + ((${h('g', 44, 3_600_000)}) || ' milliseconds')::interval AS created
           ) x
         JOIN seed_projects p ON p.rn = 1 + floor(power(${h('g', 45, 1_000_000)}::float / 1000000, 1.3) * $4)::int
         JOIN seed_staff s ON s.rn = 1 + ${h('g', 46, staffCount)}`,
        [from, to, o.posts, projects],
      );
    }
    await step(
      'deliverables',
      `INSERT INTO deliverables (project_id, client_id, title, kind, status, due_date, assignee_id, created_at, updated_at)
       SELECT p.id, p.client_id, k.kind || ' ' || (1 + (g - 1) / $2), k.kind,
              ${weighted('g', 51, [
                ['TODO', 25],
                ['IN_PROGRESS', 25],
                ['IN_REVIEW', 15],
                ['APPROVED', 15],
                ['DELIVERED', 20],
              ])}::"DeliverableStatus",
              CASE WHEN g % 11 = 0 THEN NULL ELSE (date_trunc('day', now()) + ((${h('g', 52, 150)} - 75) || ' days')::interval)::date END,
              CASE WHEN g % 5 = 0 THEN NULL ELSE s.id END,
              date_trunc('day', now()) - interval '400 days' + (g::float / ($1 * $2) * interval '399 days'),
              now()
       FROM generate_series(1, $1::int * $2::int) g
       CROSS JOIN LATERAL (SELECT ${pick(DELIVERABLE_KINDS, 'g', 53)} AS kind) k
       JOIN seed_projects p ON p.rn = 1 + (g - 1) % $1
       JOIN seed_staff s ON s.rn = 1 + ${h('g', 54, staffCount)}`,
      [projects, perProject],
    );
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
  // VACUUM sets the visibility map, so covering indexes answer counts without reading the table.
  await client.query('VACUUM (ANALYZE) clients, users, projects, posts, deliverables');
  log(`seed: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

/** Seeds regardless of existing data (callers reset first). */
export async function seed(pool: pg.Pool, options: SeedOptions): Promise<void> {
  const client = await pool.connect();
  try {
    await seedWith(client, options);
  } finally {
    client.release();
  }
}
