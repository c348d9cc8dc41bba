/**
 * `npm run db:generate`: runs `prisma generate` (Prisma client and Pothos types).
 * Generation needs no schema engine, but the CLI insists on a path to one; any existing file
 * stops it from trying to download it.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const cli = require.resolve('prisma/build/index.js');
const result = spawnSync(process.execPath, [cli, 'generate'], {
  stdio: process.argv.includes('--verbose') ? 'inherit' : ['ignore', 'ignore', 'inherit'],
  env: {
    ...process.env,
    PATH: `${path.resolve('node_modules/.bin')}${path.delimiter}${process.env.PATH ?? ''}`,
    PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
    CHECKPOINT_DISABLE: '1',
  },
});
process.exit(result.status ?? 1);
