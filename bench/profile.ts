/**
 * `npm run profile [-- --posts N] [--rounds R] [--baseline file.json] [--out docs/query-report.md]`
 *
 * Runs the benchmark query set in-process (through `yoga.fetch`, every plugin on) against the
 * bench database `postline_bench_<N>` (created and seeded as `npm run bench` does), times every
 * SQL statement, and writes a report: top statements by total and by mean time, EXPLAIN
 * (ANALYZE, BUFFERS) of the slowest, sequential scans on large tables, suggested indexes.
 * Statement timings come from pg_stat_statements when the server has it loaded, else from
 * Postline's own TimedClient. The run's figures are saved as JSON next to the bench results;
 * pass an earlier file as `--baseline` to put before/after figures in the report.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createApp } from '../src/app.ts';
import { TokenService } from '../src/auth/tokens.ts';
import { loadConfig } from '../src/config.ts';
import { createPool, TimedClient } from '../src/db/pool.ts';
import { createPrisma } from '../src/db/prisma.ts';
import { onStatement } from '../src/db/query-log.ts';
import { encodeGlobalId } from '../src/global-id.ts';
import { createLogger } from '../src/observability/logger.ts';
import { setCursorSecret } from '../src/read/keyset.ts';
import { prepareDatabase } from './lib/database.ts';
import { DASHBOARD, FEED, NODE, PLATFORMS, PROJECT_POSTS, pick, STATUSES } from './lib/queries.ts';
import { summarize } from './lib/stats.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const posts = Number(option('posts') ?? 1_000_000);
const rounds = Number(option('rounds') ?? 20);
const baselinePath = option('baseline');
const out = path.resolve(root, option('out') ?? 'docs/query-report.md');
if (!Number.isInteger(posts) || posts < 1000)
  throw new Error('--posts must be a whole number >= 1000');
if (!Number.isInteger(rounds) || rounds < 1)
  throw new Error('--rounds must be a whole number >= 1');

const log = (line: string) => process.stdout.write(`${line}\n`);

// ---- the query set --------------------------------------------------------------------------

interface Ids {
  clients: number[];
  projects: number[];
  posts: [number, number];
  users: number[];
}
interface Operation {
  name: string;
  as: 'admin' | 'client';
  query: string;
  variables: (ids: Ids) => Record<string, unknown>;
}

const randomInt = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));

const OPERATIONS: Operation[] = [
  {
    name: 'Feed',
    as: 'admin',
    query: FEED,
    variables: () => ({ status: pick(STATUSES), platform: pick(PLATFORMS), first: 20 }),
  },
  {
    name: 'FeedAsClient',
    as: 'client',
    query: `query FeedAsClient { posts(first: 20) { totalCount edges { node { id title
      project { name client { name } } author { name } } } } }`,
    variables: () => ({}),
  },
  {
    name: 'PostNode',
    as: 'admin',
    query: NODE,
    variables: (ids) => ({ id: encodeGlobalId('Post', randomInt(ids.posts[0], ids.posts[1])) }),
  },
  {
    name: 'Dashboard',
    as: 'admin',
    query: DASHBOARD,
    variables: (ids) => ({ clientId: encodeGlobalId('Client', pick(ids.clients)) }),
  },
  {
    name: 'DashboardAgency',
    as: 'admin',
    query: DASHBOARD.replace('($clientId: ID!)', '').replace('(clientId: $clientId)', ''),
    variables: () => ({}),
  },
  {
    name: 'ProjectPosts',
    as: 'admin',
    query: PROJECT_POSTS,
    variables: (ids) => ({ projectId: encodeGlobalId('Project', pick(ids.projects)) }),
  },
  {
    name: 'ScheduledWeek',
    as: 'admin',
    query: `query ScheduledWeek($from: DateTime!, $to: DateTime!) {
      posts(first: 20, filter: { scheduledAfter: $from, scheduledBefore: $to },
        orderBy: { field: SCHEDULED_AT, direction: ASC }) { edges { node { id title scheduledAt } } } }`,
    variables: () => {
      const from = new Date(Date.now() + randomInt(-60, 60) * 86_400_000);
      return {
        from: from.toISOString(),
        to: new Date(from.getTime() + 7 * 86_400_000).toISOString(),
      };
    },
  },
  {
    name: 'PostsByAuthor',
    as: 'admin',
    query: `query PostsByAuthor($author: ID!) { posts(first: 20, filter: { authorId: $author }) {
      edges { node { id title } } } }`,
    variables: (ids) => ({ author: encodeGlobalId('User', pick(ids.users)) }),
  },
  {
    name: 'ClientTree',
    as: 'admin',
    query: `query ClientTree { clients(first: 10) { edges { node { name
      projects(first: 5) { totalCount edges { node { name
        posts(first: 5) { totalCount edges { node { title author { name } } } } } } } } } } }`,
    variables: () => ({}),
  },
  {
    name: 'Deliverables',
    as: 'admin',
    query: `query Deliverables { deliverables(first: 20, filter: { status: [TODO, IN_PROGRESS] }) {
      totalCount edges { node { title dueDate assignee { name } project { name } } } } }`,
    variables: () => ({}),
  },
  {
    name: 'SearchPosts',
    as: 'admin',
    query: `query SearchPosts($q: String!) { posts(first: 20, filter: { search: $q }) {
      edges { node { id title } } } }`,
    variables: () => ({ q: pick(['launch', 'behind the scenes', 'recap', 'zzz-no-match']) }),
  },
];

// ---- statement capture -----------------------------------------------------------------------

/** One shape per statement: parameter numbers and IN-list lengths do not make a new one. */
export function normalize(sql: string): string {
  return sql
    .replace(/\s+/g, ' ')
    .replace(/\$\d+/g, '$?')
    .replace(/\(\$\?(?:,\s*\$\?)+\)/g, '($?, ...)')
    .trim();
}

interface StatementStats {
  sql: string;
  operations: Set<string>;
  durations: number[];
  rows: number;
  /** Parameters of the slowest call, for EXPLAIN. */
  slowest: { ms: number; values: unknown[] };
}

const statements = new Map<string, StatementStats>();
let currentOperation = 'setup';
let lastValues = new Map<string, unknown[]>();

// The pool's client times statements but does not keep parameters; capture them for EXPLAIN.
const originalQuery = TimedClient.prototype.query;
TimedClient.prototype.query = function (this: TimedClient, ...args: unknown[]) {
  const first = args[0] as { text?: string; values?: unknown[] } | string;
  const text = typeof first === 'string' ? first : first?.text;
  const values = typeof first === 'string' ? (args[1] as unknown[]) : first?.values;
  if (text) lastValues.set(text, values ?? []);
  return (originalQuery as (...a: unknown[]) => unknown).apply(this, args);
} as typeof originalQuery;

onStatement((record, queryLog) => {
  if (!queryLog || record.error) return;
  const key = normalize(record.sql);
  let s = statements.get(key);
  if (!s) {
    s = {
      sql: record.sql,
      operations: new Set(),
      durations: [],
      rows: 0,
      slowest: { ms: -1, values: [] },
    };
    statements.set(key, s);
  }
  s.operations.add(currentOperation);
  s.durations.push(record.durationMs);
  s.rows += record.rows;
  if (record.durationMs > s.slowest.ms) {
    s.slowest = { ms: record.durationMs, values: lastValues.get(record.sql) ?? [] };
    s.sql = record.sql;
  }
});

// ---- run --------------------------------------------------------------------------------------

const db = await prepareDatabase({ posts, log });
const admin = new pg.Pool({ connectionString: db.url, max: 2 });

// A freshly seeded table has no visibility map until (auto)vacuum runs: every index-only scan
// would visit the heap. Production tables are vacuumed; measure that state, not the seed's.
const visibility = await admin.query(
  `SELECT relname, relallvisible::float / greatest(relpages, 1) AS visible FROM pg_class
    WHERE relname IN ('posts', 'projects', 'deliverables', 'clients', 'users')`,
);
const unvacuumed = visibility.rows.filter((r) => r.visible < 0.9).map((r) => r.relname as string);
if (unvacuumed.length) {
  log(`VACUUM (ANALYZE) ${unvacuumed.join(', ')} (visibility map not set since seeding)...`);
  await admin.query(`VACUUM (ANALYZE) ${unvacuumed.join(', ')}`);
}

let statSource = 'Postline TimedClient (pg_stat_statements is not loaded on this server)';
let pgss = false;
try {
  await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  await admin.query('SELECT pg_stat_statements_reset()');
  pgss = true;
  statSource = 'pg_stat_statements';
} catch (err) {
  statSource = `Postline TimedClient (pg_stat_statements unavailable: ${(err as Error).message})`;
}
log(`Statement timings from: ${statSource}`);

const config = loadConfig({
  NODE_ENV: 'production',
  JWT_SECRET: 'profile-run-secret-that-is-long-enough-0123456789',
  DATABASE_URL: db.url,
  LOG_LEVEL: 'silent',
  SLOW_QUERY_MS: '100000',
  SLOW_OPERATION_MS: '100000',
  RESPONSE_CACHE: 'off',
});
setCursorSecret(config.jwtSecret);
const pool = createPool(db.url, { ...config.pool, size: 4, maxOverflow: 0 });
const prisma = createPrisma(pool);
const tokens = new TokenService(config.jwtSecret, config.jwtTtlS);
const app = createApp({ config, pool, prisma, tokens, logger: createLogger('silent') } as never);

const one = async <T>(sql: string) => (await admin.query(sql)).rows[0] as T;
const ids: Ids = {
  clients: (await admin.query('SELECT id FROM clients ORDER BY id')).rows.map((r) => r.id),
  projects: (await admin.query('SELECT id FROM projects ORDER BY id')).rows.map((r) => r.id),
  posts: await one<{ lo: number; hi: number }>('SELECT min(id) lo, max(id) hi FROM posts').then(
    (r) => [r.lo, r.hi] as [number, number],
  ),
  users: (await admin.query(`SELECT id FROM users WHERE role <> 'CLIENT'`)).rows.map((r) => r.id),
};
const adminUser = await one<{ id: number }>(
  `SELECT id FROM users WHERE role = 'ADMIN' ORDER BY id LIMIT 1`,
);
const clientUser = await one<{ id: number; client_id: number }>(
  `SELECT id, client_id FROM users WHERE role = 'CLIENT' ORDER BY id LIMIT 1`,
);
const auth = {
  admin: await tokens.sign({ id: adminUser.id, role: 'ADMIN', clientId: null } as never),
  client: await tokens.sign({
    id: clientUser.id,
    role: 'CLIENT',
    clientId: clientUser.client_id,
  } as never),
};

async function run(op: Operation): Promise<{ ms: number; statements: number }> {
  const started = performance.now();
  const before = [...statements.values()].reduce((n, s) => n + s.durations.length, 0);
  const res = await app.yoga.fetch('http://postline.profile/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${auth[op.as]}` },
    body: JSON.stringify({ query: op.query, variables: op.variables(ids) }),
  });
  const body = (await res.json()) as { errors?: unknown[] };
  const ms = performance.now() - started;
  if (body.errors) throw new Error(`${op.name}: ${JSON.stringify(body.errors)}`);
  const after = [...statements.values()].reduce((n, s) => n + s.durations.length, 0);
  return { ms, statements: after - before };
}

const operations: Record<string, { ms: ReturnType<typeof summarize>; statements: number }> = {};
for (const op of OPERATIONS) {
  currentOperation = 'warm-up';
  for (let i = 0; i < 2; i++) await run(op);
  currentOperation = op.name;
  const times: number[] = [];
  let count = 0;
  for (let i = 0; i < rounds; i++) {
    const r = await run(op);
    times.push(r.ms);
    count = r.statements;
  }
  operations[op.name] = { ms: summarize(times), statements: count };
  log(
    `${op.name.padEnd(16)} p50 ${operations[op.name]?.ms.p50.toFixed(2)} ms  p95 ${operations[op.name]?.ms.p95.toFixed(2)} ms  ${count} statements`,
  );
}
statements.forEach((s, k) => {
  s.operations.delete('warm-up');
  if (s.operations.size === 0) statements.delete(k);
});
lastValues = new Map();

// ---- analysis ---------------------------------------------------------------------------------

interface Row {
  sql: string;
  operations: string[];
  calls: number;
  totalMs: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  rowsPerCall: number;
  /** From one EXPLAIN (ANALYZE, BUFFERS) run: shared buffers hit + read, server time. */
  buffers?: number;
  execMs?: number;
  values: unknown[];
}
let rows: Row[] = [...statements.values()].map((s) => {
  const warm = s.durations.slice(-rounds * 4);
  const sum = summarize(warm);
  return {
    sql: s.sql.replace(/\s+/g, ' ').trim(),
    operations: [...s.operations],
    calls: warm.length,
    totalMs: warm.reduce((a, b) => a + b, 0),
    meanMs: sum.mean,
    p50Ms: sum.p50,
    p95Ms: sum.p95,
    maxMs: sum.max,
    rowsPerCall: s.rows / s.durations.length,
    values: s.slowest.values,
  };
});

if (pgss) {
  // The server's own figures (execution only, no network) replace the client-side ones.
  const server = await admin.query(
    `SELECT query, calls, total_exec_time, mean_exec_time, rows FROM pg_stat_statements
      WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
  );
  const byShape = new Map(server.rows.map((r) => [normalize(r.query), r]));
  rows = rows.map((r) => {
    const s = byShape.get(normalize(r.sql));
    return s
      ? { ...r, calls: Number(s.calls), totalMs: s.total_exec_time, meanMs: s.mean_exec_time }
      : r;
  });
}

const large = new Map<string, number>(
  (
    await admin.query(
      `SELECT relname, reltuples::bigint AS n FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace`,
    )
  ).rows.map((r) => [r.relname, Number(r.n)]),
);
const LARGE = 10_000;

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Filter?: string;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}
const walk = (node: PlanNode, visit: (n: PlanNode) => void) => {
  visit(node);
  for (const child of node.Plans ?? []) walk(child, visit);
};

const seqScans: {
  sql: string;
  table: string;
  rows: number;
  filter: string;
  operations: string[];
}[] = [];
for (const r of rows) {
  const plan = await admin.query(
    `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${r.sql}`,
    r.values as unknown[],
  );
  const top = plan.rows[0]['QUERY PLAN'][0] as {
    Plan: PlanNode & Record<string, number>;
    'Execution Time': number;
  };
  r.buffers = (top.Plan['Shared Hit Blocks'] ?? 0) + (top.Plan['Shared Read Blocks'] ?? 0);
  r.execMs = top['Execution Time'];
  walk(top.Plan, (n) => {
    const table = n['Relation Name'];
    if (n['Node Type'] === 'Seq Scan' && table && (large.get(table) ?? 0) > LARGE) {
      seqScans.push({
        sql: r.sql,
        table,
        rows: large.get(table) ?? 0,
        filter: n.Filter ?? '',
        operations: r.operations,
      });
    }
  });
}

// Server-side execution time of the feed, node and dashboard statements, run repeatedly with
// the parameters of their slowest call: what the database itself spends, without the client's
// queueing on a busy machine. TIMING OFF keeps EXPLAIN's own overhead small.
const KEY_OPERATIONS = ['Feed', 'PostNode', 'Dashboard'];
const SERVER_RUNS = 30;
const serverTimes: { row: Row; p50: number; p95: number; max: number }[] = [];
for (const r of rows.filter((x) => x.operations.some((o) => KEY_OPERATIONS.includes(o)))) {
  const times: number[] = [];
  for (let i = 0; i < SERVER_RUNS; i++) {
    const plan = await admin.query(
      `EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) ${r.sql}`,
      r.values as unknown[],
    );
    times.push(plan.rows[0]['QUERY PLAN'][0]['Execution Time'] as number);
  }
  const sum = summarize(times);
  serverTimes.push({ row: r, p50: sum.p50, p95: sum.p95, max: sum.max });
}

const slowest = [...rows].sort((a, b) => b.meanMs - a.meanMs).slice(0, 5);
const explained: { row: Row; text: string }[] = [];
for (const r of slowest) {
  const plan = await admin.query(`EXPLAIN (ANALYZE, BUFFERS) ${r.sql}`, r.values as unknown[]);
  explained.push({ row: r, text: plan.rows.map((p) => p['QUERY PLAN']).join('\n') });
}

/** Columns of `table` named in a filter, in the order they appear: a candidate index. */
async function suggest(table: string, filter: string): Promise<string | null> {
  const cols = (
    await admin.query('SELECT column_name FROM information_schema.columns WHERE table_name = $1', [
      table,
    ])
  ).rows.map((r) => r.column_name as string);
  const used = [
    ...new Set([...filter.matchAll(/\b([a-z_]+)\b/g)].map((m) => m[1] as string)),
  ].filter((c) => cols.includes(c));
  if (!used.length) return null;
  if (/~~\*|ILIKE/i.test(filter)) {
    return `${table} (${used.join(', ')}) — ILIKE '%…%' needs a trigram GIN index (pg_trgm), not a B-tree`;
  }
  return `CREATE INDEX ON ${table} (${used.join(', ')})`;
}
const suggestions = new Map<string, string[]>();
for (const s of seqScans) {
  const idea = await suggest(s.table, s.filter);
  if (idea) suggestions.set(idea, [...(suggestions.get(idea) ?? []), ...s.operations]);
}

// ---- report -----------------------------------------------------------------------------------

const migrations = (
  await admin.query('SELECT migration_name FROM _prisma_migrations ORDER BY migration_name')
).rows.map((r) => r.migration_name as string);
const result = {
  at: new Date().toISOString(),
  posts,
  rounds,
  node: process.version,
  statSource,
  migrations,
  operations,
  statements: rows.map(({ values: _v, ...r }) => r),
  server: serverTimes.map((t) => ({ sql: t.row.sql, p50: t.p50, p95: t.p95, max: t.max })),
};
await mkdir(path.join(root, 'bench/results'), { recursive: true });
const jsonPath = path.join(root, `bench/results/profile-${posts}-${Date.now()}.json`);
await writeFile(jsonPath, `${JSON.stringify(result, null, 2)}\n`);
const baseline = baselinePath
  ? (JSON.parse(await readFile(path.resolve(baselinePath), 'utf8')) as typeof result)
  : null;

const f = (n: number | undefined) => (n === undefined ? '—' : n.toFixed(2));
const short = (sql: string, n = 160) => (sql.length > n ? `${sql.slice(0, n)}…` : sql);
const cell = (s: string) => s.replace(/\|/g, '\\|');
const lines: string[] = [];
lines.push(
  '# Query report',
  '',
  `Generated by \`npm run profile -- --posts ${posts}\` on ${result.at.slice(0, 16).replace('T', ' ')} UTC`,
  `(${db.name} on ${db.server}, Node ${process.version}, ${rounds} measured runs of each operation after 2 warm-up runs,`,
  'in-process through `yoga.fetch` with every plugin on, response cache off).',
  `Machine: ${os.cpus().length} CPUs, load average at the end ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(
      ' / ',
    )} (other work shares the machine; compare buffers in the plans, not only milliseconds).`,
  '',
  `Statement timings: ${statSource}. Client-side timings include the round trip to the server.`,
  unvacuumed.length
    ? `Before measuring, ran VACUUM (ANALYZE) on ${unvacuumed.join(', ')}: their visibility map was not set since seeding.`
    : 'Tables were already vacuumed (visibility map set), so index-only scans stay in the index.',
  `Applied migrations: ${migrations.join(', ')}.`,
  '',
  '## Operations',
  '',
  baseline
    ? '| Operation | SQL statements (last run) | p50 ms before | p50 ms after | p95 ms before | p95 ms after |'
    : '| Operation | SQL statements (last run) | p50 ms | p95 ms | max ms |',
  baseline ? '|---|---:|---:|---:|---:|---:|' : '|---|---:|---:|---:|---:|',
);
for (const [name, o] of Object.entries(operations)) {
  const b = baseline?.operations[name];
  lines.push(
    baseline
      ? `| ${name} | ${o.statements} | ${f(b?.ms.p50)} | ${f(o.ms.p50)} | ${f(b?.ms.p95)} | ${f(o.ms.p95)} |`
      : `| ${name} | ${o.statements} | ${f(o.ms.p50)} | ${f(o.ms.p95)} | ${f(o.ms.max)} |`,
  );
}
const table = (title: string, list: Row[]) => {
  lines.push('', `## ${title}`, '');
  lines.push(
    baseline
      ? '| # | Statement | Operations | Calls | Total ms | Mean ms | p95 ms | Mean ms before | Buffers | Buffers before | Server ms | Server ms before |'
      : '| # | Statement | Operations | Calls | Total ms | Mean ms | p95 ms | Rows/call | Buffers | Server ms |',
  );
  lines.push(
    baseline
      ? '|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|'
      : '|---:|---|---|---:|---:|---:|---:|---:|---:|---:|',
  );
  list.forEach((r, i) => {
    const before = baseline?.statements.find((s) => normalize(s.sql) === normalize(r.sql));
    lines.push(
      `| ${i + 1} | \`${cell(short(r.sql))}\` | ${r.operations.join(', ')} | ${r.calls} | ${f(r.totalMs)} | ${f(r.meanMs)} | ${f(r.p95Ms)} | ${baseline ? f(before?.meanMs) : r.rowsPerCall.toFixed(1)} | ${r.buffers ?? '—'} |${baseline ? ` ${before?.buffers ?? '—'} |` : ''} ${f(r.execMs)} |${baseline ? ` ${f(before?.execMs)} |` : ''}`,
    );
  });
};
table('Top statements by total time', [...rows].sort((a, b) => b.totalMs - a.totalMs).slice(0, 10));
table('Top statements by mean time', [...rows].sort((a, b) => b.meanMs - a.meanMs).slice(0, 10));
table(
  'Dashboard, feed and node statements',
  rows.filter((r) => r.operations.some((o) => ['Feed', 'PostNode', 'Dashboard'].includes(o))),
);

lines.push(
  '',
  `## Server-side execution time: feed, node and dashboard statements (${SERVER_RUNS} runs each)`,
  '',
  'EXPLAIN (ANALYZE, TIMING OFF) with the parameters of the slowest call seen; planning excluded.',
  '',
  '| Statement | Operations | p50 ms | p95 ms | max ms | Buffers |',
  '|---|---|---:|---:|---:|---:|',
);
for (const t of serverTimes) {
  lines.push(
    `| \`${cell(short(t.row.sql, 140))}\` | ${t.row.operations.join(', ')} | ${t.p50.toFixed(3)} | ${t.p95.toFixed(3)} | ${t.max.toFixed(3)} | ${t.row.buffers ?? '—'} |`,
  );
}
lines.push('', '## Sequential scans on large tables', '');
if (!seqScans.length)
  lines.push(
    `None: no statement of the set plans a Seq Scan on a table over ${LARGE.toLocaleString('en')} rows.`,
  );
for (const s of seqScans) {
  lines.push(
    `- **${s.table}** (~${s.rows.toLocaleString('en')} rows) in ${s.operations.join(', ')}: filter \`${cell(short(s.filter, 200))}\``,
    `  - \`${cell(short(s.sql, 220))}\``,
  );
}
lines.push('', '## Suggested indexes', '');
if (!suggestions.size) lines.push('None from sequential scans.');
for (const [idea, ops] of suggestions)
  lines.push(`- \`${idea}\` (${[...new Set(ops)].join(', ')})`);

lines.push('', '## EXPLAIN (ANALYZE, BUFFERS) of the slowest statements', '');
for (const { row, text } of explained) {
  lines.push(
    `### ${row.operations.join(', ')}: mean ${f(row.meanMs)} ms`,
    '',
    '```sql',
    row.sql,
    '```',
    '',
    '```',
    text,
    '```',
    '',
  );
}
const notesPath = path.join(root, 'docs/query-report.notes.md');
const notes = await readFile(notesPath, 'utf8').catch(() => '');
if (notes) lines.push(notes.trim(), '');
lines.push(
  `Raw figures: \`${path.relative(root, jsonPath)}\`${baselinePath ? `; baseline: \`${baselinePath}\`` : ''}.`,
  '',
);
await writeFile(out, lines.join('\n'));
log(`Report written to ${path.relative(root, out)}`);

await app.profiling.stop();
app.metrics.stop();
await prisma.$disconnect();
await pool.end();
await admin.end();
