/** Command-line options of `npm run bench`, with the --quick and --smoke presets. */
import { parseArgs } from 'node:util';

export const SCENARIOS = ['feed', 'deep-page', 'node', 'dashboard', 'mixed'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];
/** What `--compare` can alternate: read shapes (mixed writes, so its rounds would differ). */
export const COMPARE_SCENARIOS = ['typename', 'feed', 'node', 'deep-page', 'dashboard'] as const;
export type CompareScenario = (typeof COMPARE_SCENARIOS)[number];
export const COMPARE_DEFAULT: CompareScenario[] = ['typename', 'feed', 'node', 'deep-page'];
export type CacheMode = 'off' | 'on';

export interface Options {
  posts: number;
  scenarios: ScenarioName[];
  connections: number[];
  /** Connection levels of deep-page (its target is about latency at any depth). */
  deepPageConnections: number[];
  durationS: number;
  warmupS: number;
  deepPageDurationS: number;
  deepPageWarmupS: number;
  /** Only the shallowest and deepest depth of each order (smoke runs). */
  deepPageEndsOnly: boolean;
  cacheModes: CacheMode[];
  baselines: boolean;
  serverEnv: Record<string, string>;
  label: string;
  quick: boolean;
  smoke: boolean;
  /** Write BENCHMARKS.md (smoke runs only print). */
  writeMarkdown: boolean;
  offsetRuns: number;
  /** `--node`: a major version or a path; null: Node 24 when available. */
  node: string | null;
  /** False with `--no-build`: use the existing dist/ of a package with a build script. */
  build: boolean;
  /** `--compare <ref>`: before/after mode against that git ref. */
  compare: string | null;
  /** `--compare`: the scenarios to alternate. */
  compareScenarios: CompareScenario[];
  /** `--compare`: rounds of A B (then B A) runs per scenario and connection level. */
  rounds: number;
  /** The command as typed, for the report. */
  command: string;
}

const HELP = `npm run bench -- [options]
  --posts N            data size (default 1000000; --quick: 50000)
  --quick              every scenario on 50,000 posts in under 3 minutes
  --smoke              a second or so per run, few connection levels (CI)
  --scenarios a,b      ${SCENARIOS.join(',')} (default: all)
  --connections 1,16   connection levels (default 1,16,64)
  --duration S         measured seconds per run (default 10; --quick 1.5; --smoke 1)
  --warmup S           warm-up seconds before each run (default 3; --quick 0.5; --smoke 0.3)
  --cache off,on       response cache modes to run (default off,on)
  --env KEY=VALUE      server environment (repeatable), e.g. --env DB_POOL_SIZE=10
  --label NAME         names the run; BENCHMARKS.md keeps one section per label
  --no-baselines       skip the bare Yoga, { __typename } and raw SQL baselines
  --no-write           print the tables, leave BENCHMARKS.md alone
  --node 20|24|PATH    Node the servers run on (default 24 when available, else this one)
  --no-build           with a build script: start dist/server.js without running the build
  --compare REF        before/after: REF (in a temporary git worktree) against this checkout,
                       alternating short runs on the same database
  --rounds N           --compare: rounds per scenario and level (default 5; --quick 3; --smoke 2)
                       --compare scenarios: ${COMPARE_SCENARIOS.join(',')}
                       (default ${COMPARE_DEFAULT.join(',')}); connections default 16,
                       duration 5 s (--quick 2, --smoke 1), cache off
  --help`;

const list = (raw: string) =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

function positive(name: string, raw: string, integer = true): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new Error(`--${name} must be a positive ${integer ? 'whole ' : ''}number, got "${raw}"`);
  }
  return n;
}

export function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      posts: { type: 'string' },
      quick: { type: 'boolean', default: false },
      smoke: { type: 'boolean', default: false },
      scenarios: { type: 'string' },
      connections: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      cache: { type: 'string' },
      env: { type: 'string', multiple: true },
      label: { type: 'string' },
      'no-baselines': { type: 'boolean', default: false },
      'no-write': { type: 'boolean', default: false },
      node: { type: 'string' },
      'no-build': { type: 'boolean', default: false },
      compare: { type: 'string' },
      rounds: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    process.exit(0);
  }
  const quick = values.quick ?? false;
  const smoke = values.smoke ?? false;

  const compare = values.compare ?? null;
  if (compare !== null && !compare.trim()) throw new Error('--compare needs a git ref');
  const known: readonly string[] = compare ? COMPARE_SCENARIOS : SCENARIOS;
  const scenarios = values.scenarios
    ? list(values.scenarios)
    : compare
      ? [...COMPARE_DEFAULT]
      : [...SCENARIOS];
  for (const s of scenarios) {
    if (!known.includes(s)) {
      throw new Error(
        `--scenarios: unknown scenario "${s}"${compare ? ' for --compare' : ''} (known: ${known.join(', ')})`,
      );
    }
  }
  const cacheModes = values.cache ? list(values.cache) : compare ? ['off'] : ['off', 'on'];
  for (const m of cacheModes) {
    if (m !== 'off' && m !== 'on') throw new Error(`--cache takes off and/or on, got "${m}"`);
  }
  const serverEnv: Record<string, string> = {};
  for (const pair of values.env ?? []) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new Error(`--env takes KEY=VALUE, got "${pair}"`);
    serverEnv[pair.slice(0, eq)] = pair.slice(eq + 1);
  }

  const connections = values.connections
    ? list(values.connections).map((c) => positive('connections', c))
    : compare
      ? [16]
      : smoke
        ? [1, 16]
        : [1, 16, 64];
  const durationS = values.duration
    ? positive('duration', values.duration, false)
    : smoke
      ? 1
      : quick
        ? compare
          ? 2
          : 1.5
        : compare
          ? 5
          : 10;
  const warmupS = values.warmup
    ? positive('warmup', values.warmup, false)
    : smoke
      ? 0.3
      : quick
        ? 0.5
        : compare
          ? 1
          : 3;
  const preset = smoke ? 'smoke' : quick ? 'quick' : 'full';
  const label = values.label ?? (compare ? `compare-${preset}` : preset);
  const rounds = values.rounds ? positive('rounds', values.rounds) : smoke ? 2 : quick ? 3 : 5;
  return {
    posts: values.posts ? positive('posts', values.posts) : quick ? 50_000 : 1_000_000,
    scenarios: (compare ? [] : scenarios) as ScenarioName[],
    connections,
    // Quick and smoke runs keep deep-page to one connection: 16 cursors x levels adds up.
    deepPageConnections: values.connections ? connections : quick || smoke ? [1] : connections,
    durationS,
    warmupS,
    deepPageDurationS: values.duration ? durationS : smoke ? 0.5 : quick ? 1 : durationS,
    deepPageWarmupS: values.warmup ? warmupS : smoke ? 0.2 : quick ? 0.3 : warmupS,
    deepPageEndsOnly: smoke,
    cacheModes: cacheModes as CacheMode[],
    baselines: !values['no-baselines'],
    serverEnv,
    label,
    quick,
    smoke,
    writeMarkdown: !values['no-write'] && !smoke,
    offsetRuns: smoke ? 1 : quick ? 3 : 5,
    node: values.node ?? null,
    build: !values['no-build'],
    compare,
    compareScenarios: (compare ? scenarios : []) as CompareScenario[],
    rounds,
    command: ['npm run bench', ...(argv.length ? ['--', ...argv] : [])].join(' '),
  };
}
