// Module resolution hooks for bench/server-without-checks.ts: imports of the modules below
// resolve to the pass-through stand-ins beside this file. The stand-ins' own imports resolve
// normally (one of them wraps the real module).
const here = new URL('./', import.meta.url).href;

/** Source files (by path suffix) and packages (by specifier) → stand-in file. */
const FILES = [
  ['/src/limits/query-limits.ts', 'query-limits.mjs'],
  ['/src/limits/operation-timeout.ts', 'operation-timeout.mjs'],
  ['/src/security/http.ts', 'security-http.mjs'],
  ['/src/auth/accounts.ts', 'accounts.mjs'],
];
const PACKAGES = {
  '@graphql-yoga/plugin-csrf-prevention': 'plugins.mjs',
  '@graphql-yoga/plugin-disable-introspection': 'plugins.mjs',
  '@escape.tech/graphql-armor-block-field-suggestions': 'plugins.mjs',
};

export async function resolve(specifier, context, nextResolve) {
  if (context.parentURL?.startsWith(here)) return nextResolve(specifier, context);
  const pkg = PACKAGES[specifier];
  if (pkg) return { url: here + pkg, shortCircuit: true };
  const resolved = await nextResolve(specifier, context);
  if (resolved.url.startsWith('file:')) {
    const { pathname } = new URL(resolved.url);
    for (const [suffix, file] of FILES) {
      if (pathname.endsWith(suffix)) return { url: here + file, shortCircuit: true };
    }
  }
  return resolved;
}
