/**
 * GraphiQL works with no network: the page and every file it references come from this
 * server, none from a CDN. Fetched over real HTTP as a browser would.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createTestApp, useTestApp } from './harness.ts';
import { serve } from './http.ts';

const t = await useTestApp();
const http = await serve(t.app);
afterAll(() => http.close());

const CDN = /unpkg\.com|jsdelivr\.net|esm\.sh|cdnjs|googleapis|gstatic|skypack/;

describe('GraphiQL offline', () => {
  it('serves the page and every script, style, worker and icon it references itself', async () => {
    const page = await fetch(http.url, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const html = await page.text();
    // The demo operations are preloaded, with the Headers tab explained.
    expect(html).toContain('mutation Login');
    expect(html).toContain('query Feed');
    expect(html).toContain('Headers tab');
    // No absolute URL anywhere in the page: everything it loads is a path on this server.
    expect(html).not.toMatch(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}\//i);

    const attributes = [...html.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    const inScripts = [...html.matchAll(/"(\/graphiql\/[^"]+)"/g)].map((m) => m[1]!);
    const urls = [...new Set([...attributes, ...inScripts])];
    expect(attributes.length).toBeGreaterThanOrEqual(3); // icon, stylesheet, script
    expect(inScripts.length).toBeGreaterThanOrEqual(3); // Monaco's three workers
    const kinds = new Map<string, number>();
    for (const ref of urls) {
      const url = new URL(ref, http.url);
      expect(url.origin).toBe(http.origin);
      const res = await fetch(url, { headers: { 'accept-encoding': 'gzip' } });
      expect(res.status, ref).toBe(200);
      const type = res.headers.get('content-type') ?? '';
      kinds.set(type.split(';')[0]!, (kinds.get(type.split(';')[0]!) ?? 0) + 1);
      expect(res.headers.get('cache-control')).toContain('immutable');
      const body = await res.text();
      expect(body.length, ref).toBeGreaterThan(100);
      if (type.startsWith('text/css')) {
        // Fonts and images are inlined: every url() is a data: URL, nothing is imported.
        const cssUrls = [...body.matchAll(/url\(\s*['"]?([^'")]+)/g)].map((m) => m[1]!);
        expect(cssUrls.length).toBeGreaterThan(0);
        expect(cssUrls.filter((u) => !u.startsWith('data:') && !u.startsWith('#'))).toEqual([]);
        expect(body).not.toMatch(/@import/);
      }
      if (type.startsWith('text/javascript')) expect(body).not.toMatch(CDN);
    }
    expect(Object.fromEntries(kinds)).toEqual({
      'image/x-icon': 1,
      'text/css': 1,
      'text/javascript': 4,
    });
  });

  it('sends the files gzipped to browsers that accept it', async () => {
    const html = await (await fetch(http.url, { headers: { accept: 'text/html' } })).text();
    const script = /<script src="([^"]+)"/.exec(html)?.[1];
    const res = await fetch(new URL(script!, http.url), { headers: { 'accept-encoding': 'gzip' } });
    expect(res.headers.get('content-encoding')).toBe('gzip');
    expect((await res.text()).length).toBeGreaterThan(1_000_000);
  });

  it('answers 404 for other paths under /graphiql/, and is off in production', async () => {
    expect((await fetch(`${http.origin}/graphiql/nothing.js`)).status).toBe(404);
    const prod = await createTestApp({ NODE_ENV: 'production' }, { url: t.url });
    const server = await serve(prod.app);
    try {
      const res = await fetch(server.url, { headers: { accept: 'text/html' } });
      expect(res.headers.get('content-type') ?? '').not.toMatch(/text\/html/);
      expect((await fetch(`${server.origin}/graphiql/graphiql.js`)).status).toBe(404);
    } finally {
      await server.close();
      await prod.close();
    }
  });
});
