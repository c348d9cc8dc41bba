/**
 * Generates TypeScript types and typed documents for the operations in operations/*.graphql
 * from Postline's committed schema.graphql, with GraphQL Codegen's client preset, plus the
 * trusted-documents manifest `generated/persisted-documents.json` (hash → document).
 *
 * It drives the preset through `@graphql-codegen/core` (what the `graphql-codegen` CLI does
 * inside), so the example needs 2 packages instead of the CLI's ~300. With the CLI, the same
 * output comes from this `codegen.ts` config:
 *
 *   const config: CodegenConfig = {
 *     schema: '../../schema.graphql',
 *     documents: 'operations/*.graphql',
 *     generates: {
 *       'generated/': {
 *         preset: 'client',
 *         presetConfig: { persistedDocuments: true, fragmentMasking: false },
 *         documentTransforms: [addTypenameSelectionDocumentTransform],
 *         config: {
 *           scalars: { DateTime: 'string', Date: 'string' },
 *           enumsAsTypes: true,
 *           useTypeImports: true,
 *           importExtension: '.ts',
 *         },
 *       },
 *     },
 *   };
 *
 * Run: node --import tsx examples/typed-clients/codegen.ts
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { addTypenameSelectionDocumentTransform, preset } from '@graphql-codegen/client-preset';
import { codegen } from '@graphql-codegen/core';
import { buildSchema, parse } from 'graphql';

const here = path.dirname(fileURLToPath(import.meta.url));
const schemaText = readFileSync(path.join(here, '../../schema.graphql'), 'utf8');
const operationsDir = path.join(here, 'operations');
const outDir = path.join(here, 'generated');

const documents = readdirSync(operationsDir)
  .filter((f) => f.endsWith('.graphql'))
  .sort()
  .map((f) => {
    const location = path.join(operationsDir, f);
    const rawSDL = readFileSync(location, 'utf8');
    return { location, rawSDL, document: parse(rawSDL) };
  });

const config = {
  // Postline's scalars arrive as ISO strings.
  scalars: { DateTime: 'string', Date: 'string' },
  enumsAsTypes: true,
  useTypeImports: true,
  // ESM with `.ts` imports, as in the rest of the project.
  emitLegacyCommonJSImports: false,
  importExtension: '.ts',
};

const outputs = await preset.buildGeneratesSection({
  baseOutputDir: 'generated/',
  presetConfig: { persistedDocuments: true, fragmentMasking: false },
  plugins: [],
  pluginMap: {},
  schema: parse(schemaText),
  schemaAst: buildSchema(schemaText),
  documents,
  config,
  // Apollo and urql add `__typename` to what they send; adding it here keeps the documents
  // (and so their hashes) identical to what goes over the wire.
  documentTransforms: [
    { name: 'add-typename', transformObject: addTypenameSelectionDocumentTransform },
  ],
});

mkdirSync(outDir, { recursive: true });
// The preset's outputs wait on each other (the manifest is filled while the types are made).
await Promise.all(
  outputs.map(async (output) => {
    const content = await codegen({ ...output, config: { ...config, ...output.config } });
    writeFileSync(path.join(here, output.filename), content);
    process.stdout.write(
      `wrote ${path.relative(process.cwd(), path.join(here, output.filename))}\n`,
    );
  }),
);
