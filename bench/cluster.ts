/**
 * `npm run cluster`: the scale-out topology on this machine (bench/lib/cluster.ts), on a
 * seeded database `postline_cluster_<posts>`, until Ctrl-C; then everything it started stops.
 *
 *   npm run cluster -- [--instances 2] [--workers 2] [--web-concurrency N] [--direct] [--posts N]
 */
import { parseArgs } from 'node:util';
import { DEMO_PASSWORD } from '../src/db/seed.ts';
import { cleanupAll, installSignalHandlers } from './lib/cleanup.ts';
import { missingPrograms, programVersions, startCluster } from './lib/cluster.ts';
import { prepareDatabase } from './lib/database.ts';

const HELP = `npm run cluster -- [options]
  --instances N        API instances behind HAProxy (default 2)
  --workers N          worker processes (default 2)
  --web-concurrency N  WEB_CONCURRENCY of each API instance (processes per instance)
  --direct             no PgBouncer: the API instances connect to PostgreSQL directly
  --posts N            seeded posts (default 20000; database postline_cluster_<N>)
  --log-requests       print HAProxy's log line of every request
PostgreSQL: BENCH_DATABASE_URL or DATABASE_URL (default 127.0.0.1:5432); Redis: REDIS_URL
(default redis://127.0.0.1:6379).`;

const log = (line: string) => process.stdout.write(`${line}\n`);

function count(raw: string | undefined, def: number, min: number, what: string): number {
  if (raw === undefined) return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min)
    throw new Error(`${what}: a whole number from ${min}, got "${raw}"`);
  return n;
}

async function main() {
  const { values } = parseArgs({
    options: {
      instances: { type: 'string' },
      workers: { type: 'string' },
      'web-concurrency': { type: 'string' },
      direct: { type: 'boolean', default: false },
      posts: { type: 'string' },
      'log-requests': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    log(HELP);
    return;
  }
  const instances = count(values.instances, 2, 1, '--instances');
  const workers = count(values.workers, 2, 0, '--workers');
  const webConcurrency = values['web-concurrency']
    ? count(values['web-concurrency'], 1, 1, '--web-concurrency')
    : undefined;
  const posts = count(values.posts, 20_000, 100, '--posts');
  const missing = missingPrograms({ direct: values.direct });
  if (missing.length) {
    throw new Error(
      `${missing.join(' and ')} not installed: apt-get update && apt-get install -y ${missing.join(' ')}`,
    );
  }
  installSignalHandlers();
  for (const v of Object.values(programVersions())) log(v);
  const db = await prepareDatabase({ posts, log, prefix: 'postline_cluster' });
  const cluster = await startCluster({
    databaseUrl: db.url,
    redisUrl: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
    instances,
    workers,
    ...(webConcurrency ? { webConcurrency } : {}),
    direct: values.direct,
    requestLog: values['log-requests'],
    log,
  });
  if (values['log-requests']) {
    let shown = 0;
    setInterval(() => {
      for (; shown < cluster.requests.length; shown++) log(JSON.stringify(cluster.requests[shown]));
    }, 500);
  }
  log('\nPostline cluster running:');
  for (const line of cluster.describe()) log(`  ${line}`);
  log(
    `\nDemo logins: admin@postline.dev and others, password "${DEMO_PASSWORD}". Ctrl-C stops everything.`,
  );
  await new Promise(() => {});
}

main().catch(async (err: unknown) => {
  process.stderr.write(`cluster: ${err instanceof Error ? err.message : err}\n`);
  await cleanupAll();
  process.exit(1);
});
