/**
 * Postline with issue #12's per-request checks taken out, for measuring what they cost
 * (`bench/ab-env.ts --entry-b bench/server-without-checks.ts`). Nothing in src/ changes: module
 * hooks (bench/lib/without-checks/hooks.mjs) hand the server pass-through stand-ins for the
 * query limits, the operation timeout, the body limits and security headers, the token
 * revocation check (tokens are trusted until they expire, as before) and the CSRF,
 * introspection and suggestion plugins. Never run this in front of users.
 */
import { register } from 'node:module';

register('./lib/without-checks/hooks.mjs', import.meta.url);
await import('../src/server.ts');
