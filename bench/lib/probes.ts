/** Single-request probes that read /metrics around each request. */
import { delta, scrape } from './prometheus.ts';
import { FEED, PLATFORMS, STATUSES } from './queries.ts';

/**
 * SQL statements per `posts` request for each page size: the N+1 check. Each request uses
 * different variables so a response cache cannot answer it.
 */
export async function statementsByPageSize(
  baseUrl: string,
  token: string,
  sizes: number[],
  repeat = 3,
): Promise<{ first: number; sqlPerRequest: number | null }[]> {
  const out: { first: number; sqlPerRequest: number | null }[] = [];
  let n = 0;
  for (const first of sizes) {
    const before = await scrape(baseUrl);
    for (let i = 0; i < repeat; i++, n++) {
      const res = await fetch(`${baseUrl}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({
          query: FEED,
          variables: {
            status: STATUSES[n % STATUSES.length],
            platform: PLATFORMS[Math.floor(n / STATUSES.length) % PLATFORMS.length],
            first,
          },
        }),
      });
      await res.text();
    }
    const after = await scrape(baseUrl);
    const statements = delta(before, after, 'postline_sql_statements_per_request_sum');
    out.push({ first, sqlPerRequest: statements === undefined ? null : statements / repeat });
  }
  return out;
}
