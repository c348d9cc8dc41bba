/**
 * GraphiQL served entirely by this server, so it works offline and on air-gapped machines.
 * Yoga's default page loads GraphiQL from a CDN; `@graphql-yoga/render-graphiql` ships the
 * same build inside the npm package (script, styles, Monaco's workers, fonts inlined in the
 * CSS). Inlined into one page that would be 9 MB on every load, so the page here is small and
 * references the parts as files under ASSET_PREFIX: named by content hash, cached by the
 * browser for a year, gzipped once when a browser accepts it. Nothing is loaded (or kept in
 * memory) until the first GraphiQL request, and never when GraphiQL is off (production).
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { GraphiQLOptions, Plugin } from 'graphql-yoga';

export const ASSET_PREFIX = '/graphiql/';

interface Asset {
  body: Buffer;
  type: string;
  gzipped?: Buffer;
}

interface Bundle {
  assets: Map<string, Asset>;
  urls: { js: string; css: string; favicon: string; workers: Record<string, string> };
}

let bundle: Promise<Bundle> | null = null;

function loadBundle(): Promise<Bundle> {
  bundle ??= import('@graphql-yoga/render-graphiql/graphiql').then((parts) => {
    const assets = new Map<string, Asset>();
    const add = (name: string, ext: string, body: Buffer, type: string) => {
      const file = `${name}.${createHash('sha256').update(body).digest('hex').slice(0, 16)}.${ext}`;
      assets.set(file, { body, type });
      return `${ASSET_PREFIX}${file}`;
    };
    const js = 'text/javascript; charset=utf-8';
    const icon = /^data:([^;]+);base64,(.*)$/s.exec(parts.favicon);
    return {
      assets,
      urls: {
        js: add('graphiql', 'js', Buffer.from(parts.js), js),
        css: add('graphiql', 'css', Buffer.from(parts.css), 'text/css; charset=utf-8'),
        favicon: add(
          'favicon',
          'ico',
          Buffer.from(icon?.[2] ?? '', 'base64'),
          icon?.[1] ?? 'image/x-icon',
        ),
        // Monaco asks for its workers by these labels.
        workers: {
          editorWorkerService: add(
            'editor.worker',
            'js',
            Buffer.from(parts.editorWorkerService),
            js,
          ),
          json: add('json.worker', 'js', Buffer.from(parts.jsonWorker), js),
          graphql: add('graphql.worker', 'js', Buffer.from(parts.graphqlWorker), js),
        },
      },
    };
  });
  return bundle;
}

/** JSON safe inside a <script> element. */
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');
const escapeHtml = (text: string) => text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** Yoga's `renderGraphiQL`: the page, referencing only this server's own files. */
export async function renderOfflineGraphiQL(opts: GraphiQLOptions = {}): Promise<string> {
  const { urls } = await loadBundle();
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>${escapeHtml(opts.title ?? 'GraphiQL')}</title>
    <link rel="icon" href="${urls.favicon}" />
    <link rel="stylesheet" href="${urls.css}" />
  </head>
  <body id="body" class="no-focus-outline">
    <noscript>GraphiQL needs JavaScript.</noscript>
    <div id="root"></div>
    <script>
      const workers = ${scriptJson(urls.workers)};
      self.MonacoEnvironment = { globalAPI: false, getWorkerUrl: (_id, label) => workers[label] };
    </script>
    <script src="${urls.js}"></script>
    <script>
      YogaGraphiQL.renderYogaGraphiQL(document.querySelector('#root'), ${scriptJson(opts)});
    </script>
  </body>
</html>
`;
}

/** Answers GET ASSET_PREFIX<file> with the bundled file (404 for anything else there). */
export function graphiqlAssetsPlugin(): Plugin {
  return {
    async onRequest({ request, url, endResponse, fetchAPI }) {
      if (!url.pathname.startsWith(ASSET_PREFIX)) return;
      const { assets } = await loadBundle();
      const asset =
        request.method === 'GET' ? assets.get(url.pathname.slice(ASSET_PREFIX.length)) : undefined;
      if (!asset) {
        endResponse(new fetchAPI.Response('Not found', { status: 404 }));
        return;
      }
      const gzip = /\bgzip\b/.test(request.headers.get('accept-encoding') ?? '');
      if (gzip) asset.gzipped ??= gzipSync(asset.body);
      const body = gzip && asset.gzipped ? asset.gzipped : asset.body;
      endResponse(
        new fetchAPI.Response(new Uint8Array(body), {
          headers: {
            'content-type': asset.type,
            'cache-control': 'public, max-age=31536000, immutable',
            vary: 'accept-encoding',
            ...(gzip ? { 'content-encoding': 'gzip' } : {}),
          },
        }),
      );
    },
  };
}
