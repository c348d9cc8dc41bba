// Used only by the Prisma CLI (`prisma generate`, and `prisma migrate deploy` on
// machines that can download Prisma's engine). Postline's own scripts migrate with
// the WebAssembly schema engine; see src/db/migrations.ts.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postline' },
});
