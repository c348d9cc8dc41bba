/**
 * `npm run schema:print` writes schema.graphql from the code; `npm run schema:check` fails
 * when the committed file differs (run in CI, so schema changes are always reviewed).
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { printSchema } from 'graphql';
import { schema } from './index.ts';

const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../schema.graphql');
const printed = `${printSchema(schema)}\n`;

if (process.argv.includes('--check')) {
  const committed = await readFile(file, 'utf8').catch(() => '');
  if (committed !== printed) {
    process.stderr.write(
      'schema.graphql is out of date with the code. Run `npm run schema:print` and commit the result.\n',
    );
    process.exit(1);
  }
  process.stdout.write('schema.graphql matches the code.\n');
} else {
  await writeFile(file, printed);
  process.stdout.write(`Wrote ${path.relative(process.cwd(), file)}\n`);
}
