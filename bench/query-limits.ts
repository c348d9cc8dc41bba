/**
 * `npx tsx bench/query-limits.ts`: figures for the query limits (src/limits/), no database.
 *
 * 1. The fragment bomb (`F0..Fn`, each spreading the next twice) through the checks a request
 *    meets before any resolver: parse with the token limit, graphql-js's validation plus the
 *    depth/alias/directive rules, and the cost walk. Time must grow linearly with n.
 * 2. Cost, depth, aliases, directives and tokens of every operation Postline sends or documents
 *    (bench/lib/app-documents.ts), with worst-case variables, against the default limits.
 * 3. The per-request price of the cost walk on the feed query (its page size is a variable, so
 *    it is walked on every request; constant documents are walked once).
 */

import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import {
  Lexer,
  parse,
  Source,
  specifiedRules,
  TokenKind,
  type ValidationContext,
  type ValidationRule,
  validate,
} from 'graphql';
import { loadConfig } from '../src/config.ts';
import { operationCost } from '../src/limits/cost.ts';
import { cachedCost } from '../src/limits/query-limits.ts';
import { schema } from '../src/schema/index.ts';
import { appDocuments, worstCaseVariables } from './lib/app-documents.ts';
import { FEED } from './lib/queries.ts';

const limits = loadConfig({ NODE_ENV: 'test' }).queryLimits;
const out = (line = '') => process.stdout.write(`${line}\n`);

function bomb(n: number): string {
  let s = '{...F0}';
  for (let i = 0; i < n; i++) s += ` fragment F${i} on Query{...F${i + 1} ...F${i + 1}}`;
  return `${s} fragment F${n} on Query{__typename}`;
}

function tokens(query: string): number {
  const lexer = new Lexer(new Source(query));
  let n = 0;
  while (lexer.advance().kind !== TokenKind.EOF) n++;
  return n;
}

/** The values armor's rules measured (their onAccept/onReject report them). */
function measuredRules(seen: Record<string, number>): ValidationRule[] {
  const record = (name: string) => ({
    n: Number.MAX_SAFE_INTEGER,
    propagateOnRejection: false as const,
    onAccept: [
      (_: ValidationContext | null, d: { n: number }) => {
        seen[name] = d.n;
      },
    ],
  });
  return [
    maxDepthRule({ ...record('depth'), flattenFragments: true, ignoreIntrospection: true }),
    maxAliasesRule(record('aliases')),
    maxDirectivesRule(record('directives')),
  ];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

function time<T>(fn: () => T, rounds: number): { ms: number; value: T } {
  const samples: number[] = [];
  let value!: T;
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    value = fn();
    samples.push(performance.now() - t);
  }
  return { ms: median(samples), value };
}

out('## Fragment bomb: checks before execution (median of 21, ms)');
out();
out(
  '| fragments | bytes | tokens | parse | validate (graphql-js + depth/aliases/directives) | cost | cost value |',
);
out('| --- | --- | --- | --- | --- | --- | --- |');
const rules = [...specifiedRules, ...measuredRules({})];
// Warm up the JIT so the first row is not the compiler's.
for (let i = 0; i < 50; i++) validate(schema, parse(bomb(10)), rules);
for (const n of [10, 14, 18, 22, 40, 60, 80]) {
  const text = bomb(n);
  const p = time(() => parse(text, { maxTokens: 100_000 }), 21);
  const v = time(() => validate(schema, p.value, rules), 21);
  const c = time(() => operationCost(schema, p.value, undefined, {}), 21);
  out(
    `| F0..F${n} | ${text.length} | ${tokens(text)} | ${p.ms.toFixed(2)} | ${v.ms.toFixed(2)} | ` +
      `${c.ms.toFixed(3)} | ${c.value?.cost.toExponential(2)} |`,
  );
}

out();
out(
  `## The app's own operations against the defaults (cost ${limits.cost}, depth ${limits.depth}, ` +
    `aliases ${limits.aliases}, directives ${limits.directives}, tokens ${limits.tokens})`,
);
out();
out('| operation | cost | largest multiplier | depth | aliases | directives | tokens |');
out('| --- | --- | --- | --- | --- | --- | --- |');
const rows = appDocuments().map((d) => {
  const doc = parse(d.query);
  const seen: Record<string, number> = {};
  validate(schema, doc, measuredRules(seen));
  const cost = operationCost(schema, doc, undefined, worstCaseVariables(d.query, schema), true);
  return { d, cost, seen, tokens: tokens(d.query) };
});
rows.sort((a, b) => (b.cost?.cost ?? 0) - (a.cost?.cost ?? 0));
for (const { d, cost, seen, tokens: n } of rows) {
  const chain = cost?.chain ? `${cost.chain.path.join(' › ')} (×${cost.chain.factor})` : '—';
  out(
    `| ${d.source} | ${cost?.cost ?? '—'} | ${chain} | ${seen.depth ?? 0} | ${seen.aliases ?? 0} | ` +
      `${seen.directives ?? 0} | ${n} |`,
  );
}
const max = (key: 'depth' | 'aliases' | 'directives') =>
  Math.max(...rows.map((r) => r.seen[key] ?? 0));
out();
out(
  `Largest: cost ${Math.max(...rows.map((r) => r.cost?.cost ?? 0))} of ${limits.cost}, ` +
    `depth ${max('depth')} of ${limits.depth}, aliases ${max('aliases')} of ${limits.aliases}, ` +
    `directives ${max('directives')} of ${limits.directives}, ` +
    `tokens ${Math.max(...rows.map((r) => r.tokens))} of ${limits.tokens}.`,
);

out();
out('## Per-request cost check (the feed query, `first: $first`)');
const feed = parse(FEED);
const rounds = 20_000;
const perCall = (fn: (i: number) => unknown) => {
  for (let i = 0; i < 2000; i++) fn(i);
  const t = performance.now();
  for (let i = 0; i < rounds; i++) fn(i);
  return `${(((performance.now() - t) / rounds) * 1000).toFixed(2)} µs`;
};
const vars = { status: 'SCHEDULED', platform: 'LINKEDIN', first: 20 };
out(
  `- full walk (first sight of a document and page size): ${perCall(() => operationCost(schema, feed, 'Feed', vars))}`,
);
out(
  `- as requests pay it (cached by document and page size): ${perCall(() => cachedCost(schema, feed, 'Feed', vars))}`,
);
out(
  `- the same with the page size varying over 1..100: ${perCall((i) => cachedCost(schema, feed, 'Feed', { ...vars, first: (i % 100) + 1 }))}`,
);

out();
out('## Per-request CPU through Yoga, `{ __typename }` (no database; alternating rounds)');
{
  const { createYoga } = await import('graphql-yoga');
  const { queryLimitsPlugin } = await import('../src/limits/query-limits.ts');
  const { operationTimeoutPlugin } = await import('../src/limits/operation-timeout.ts');
  // The app always has parse/validate/execute hooks (SQL attribution, cache, profiling), so the
  // baseline has no-op ones: the comparison isolates what the limits add.
  const hooks = { onParse() {}, onValidate() {}, onExecute() {} };
  const variants = {
    without: createYoga({ schema, logging: false, plugins: [hooks] }),
    with: createYoga({
      schema,
      logging: false,
      plugins: [queryLimitsPlugin(limits), operationTimeoutPlugin(10_000), hooks],
    }),
  };
  const body = JSON.stringify({ query: '{ __typename }' });
  const run = async (yoga: (typeof variants)['with'], n: number) => {
    const start = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      const res = await yoga.fetch('http://bench/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      await res.text();
    }
    const used = process.cpuUsage(start);
    return (used.user + used.system) / n;
  };
  const samples: Record<string, number[]> = { without: [], with: [] };
  for (const yoga of Object.values(variants)) await run(yoga, 1000);
  for (let round = 0; round < 9; round++) {
    for (const [name, yoga] of Object.entries(variants)) {
      samples[name]?.push(await run(yoga, 2000));
    }
  }
  for (const [name, xs] of Object.entries(samples)) {
    const sorted = [...xs].sort((a, b) => a - b);
    out(
      `- ${name} the limits: median ${median(xs).toFixed(1)} µs CPU per request ` +
        `(rounds: ${sorted.map((x) => x.toFixed(0)).join(', ')})`,
    );
  }
  out('Compare medians only when the rounds agree: on a busy machine they do not.');
}
