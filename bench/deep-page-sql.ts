/**
 * Deep-page check in raw SQL (issue 6): for each posts order, the page SQL the API issues
 * (built with the same functions) at depth 1, 10,000, 500,000 and 900,000, next to the same
 * page by OFFSET; then `totalCount` (count(*)) with and without filters and its plan.
 *
 *   node --import tsx bench/deep-page-sql.ts [--runs 15] [--offset-runs 3]
 *
 * Needs the database `postline_bench_1000000` (1,000,000 posts seeded with src/db/seed.ts,
 * then VACUUM ANALYZE). BENCH_DATABASE_URL overrides its URL. Prints a Markdown table.
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { encodeCursor, type PageRequest, pageSql, planPage } from '../src/read/keyset.ts';
import { postModel } from '../src/schema/post.ts';

const postList = { name: 'posts', table: postModel.table, orders: postModel.orders };

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '15' },
    'offset-runs': { type: 'string', default: '3' },
  },
});
const RUNS = Number(values.runs);
const OFFSET_RUNS = Number(values['offset-runs']);
const PAGE = 20;
const DEPTHS = [1, 10_000, 500_000, 900_000];
const url =
  process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postline_bench_1000000';

const db = new pg.Client({ connectionString: url });
await db.connect();

async function p50(runs: number, fn: () => Promise<unknown>): Promise<number> {
  await fn(); // warm the cache
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await fn();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}

/** Shared buffers (8 kB pages, hit + read) a statement touches: load-independent work. */
async function analyze(text: string, params: unknown[]): Promise<{ buffers: number }> {
  const { rows } = await db.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${text}`, params);
  const plan = rows[0]['QUERY PLAN'][0].Plan as Record<string, number>;
  return { buffers: (plan['Shared Hit Blocks'] ?? 0) + (plan['Shared Read Blocks'] ?? 0) };
}

const fmt = (ms: number) => (ms < 10 ? ms.toFixed(2) : ms.toFixed(0));
const [{ n: total } = { n: 0 }] = (
  await db.query<{ n: number }>('SELECT count(*)::int AS n FROM posts')
).rows;
process.stdout.write(
  `posts: ${total}; page size ${PAGE}; p50 of ${RUNS} runs (OFFSET: ${OFFSET_RUNS})\n\n`,
);
process.stdout.write(
  '| order | depth | keyset (API) p50 ms | keyset buffers | OFFSET p50 ms | OFFSET buffers | rows | same rows |\n',
);
process.stdout.write('|---|---:|---:|---:|---:|---:|---:|---|\n');

for (const field of Object.keys(postList.orders)) {
  for (const direction of ['DESC', 'ASC'] as const) {
    const sort = postList.orders[field];
    if (!sort) continue;
    const nulls = direction === 'ASC' ? 'LAST' : 'FIRST';
    const order = `${sort.column} ${direction} NULLS ${nulls}, id ${direction}`;
    for (const depth of DEPTHS) {
      // The cursor is the row just before the page, found by OFFSET (setup, not timed).
      let after: string | null = null;
      if (depth > 1) {
        const { rows } = await db.query<{ id: number; k: Date | string | null }>(
          `SELECT id, ${sort.column} AS k FROM posts ORDER BY ${order} OFFSET ${depth - 2} LIMIT 1`,
        );
        const row = rows[0];
        if (!row) continue;
        const v = row.k instanceof Date ? row.k.toISOString() : row.k;
        after = encodeCursor({ b: `posts||${field}|${direction}`, v, i: row.id });
      }
      const req: PageRequest = {
        spec: postList,
        orderField: field,
        direction,
        args: { first: PAGE, after },
        where: [],
      };
      const sql = pageSql(req, planPage(req, null), null);
      const keyset = () => db.query(sql.text, sql.values);
      const offsetSql = `SELECT id FROM posts ORDER BY ${order} LIMIT ${PAGE + 1} OFFSET ${depth - 1}`;
      const offset = () => db.query(offsetSql);
      const ks = await p50(RUNS, keyset);
      const os = await p50(OFFSET_RUNS, offset);
      const kRows = (await keyset()).rows
        .filter((r: { id: number | null }) => r.id !== null)
        .map((r: { id: number }) => r.id);
      const oRows = (await offset()).rows.map((r) => r.id);
      const same = JSON.stringify(kRows) === JSON.stringify(oRows);
      const kPlan = await analyze(sql.text, sql.values);
      const oPlan = await analyze(offsetSql, []);
      process.stdout.write(
        `| ${field} ${direction} | ${depth.toLocaleString('en')} | ${fmt(ks)} | ${kPlan.buffers} | ${fmt(os)} | ${oPlan.buffers} | ${kRows.length} | ${same ? 'yes' : 'NO'} |\n`,
      );
    }
  }
}

// ---- totalCount ------------------------------------------------------------------------
const ids = (
  await db.query<{ c: number; p: number; a: number }>(
    'SELECT client_id AS c, project_id AS p, author_id AS a FROM posts ORDER BY id LIMIT 1',
  )
).rows[0] ?? { c: 1, p: 1, a: 1 };
const COUNTS: [string, string][] = [
  ['none', ''],
  ['status+platform', `WHERE t.status = 'PUBLISHED' AND t.platform = 'LINKEDIN'`],
  ['clientId', `WHERE t.client_id = ${ids.c}`],
  ['projectId', `WHERE t.project_id = ${ids.p}`],
  ['authorId', `WHERE t.author_id = ${ids.a}`],
];
process.stdout.write(
  '\n| totalCount filter | rows | p50 ms | plan | heap fetches |\n|---|---:|---:|---|---:|\n',
);
for (const [label, where] of COUNTS) {
  const text = `SELECT count(*)::int4 AS n FROM "posts" t ${where}`;
  const ms = await p50(Math.max(3, Math.floor(RUNS / 3)), () => db.query(text));
  const n = (await db.query<{ n: number }>(text)).rows[0]?.n ?? 0;
  const { rows } = await db.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${text}`);
  const scans: string[] = [];
  let heapFetches = 0;
  const walk = (node: Record<string, unknown>) => {
    if (/Scan/.test(String(node['Node Type']))) {
      scans.push(`${node['Node Type']}${node['Index Name'] ? ` ${node['Index Name']}` : ''}`);
    }
    heapFetches += Number(node['Heap Fetches'] ?? 0);
    for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
  };
  walk(rows[0]['QUERY PLAN'][0].Plan);
  process.stdout.write(
    `| ${label} | ${n.toLocaleString('en')} | ${fmt(ms)} | ${[...new Set(scans)].join(', ')} | ${heapFetches} |\n`,
  );
}
await db.end();
