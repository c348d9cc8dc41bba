# Postline API and worker image (one image, two commands; see docker-compose.yml).
# Two stages: the first installs everything and compiles src/ to dist/ (`npm run build`), the
# second holds the compiled JavaScript, the production dependencies and prisma/ (the migrations
# the API applies on start), and runs `node dist/server.js`: no TypeScript loader in production.
FROM node:24-bookworm-slim AS build

ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false

WORKDIR /app
# Dependencies first (cached while package*.json and the Prisma schema are unchanged).
# The postinstall script generates the Prisma client and Pothos types from prisma/ into
# src/generated/, which the build compiles with the rest of src/.
COPY package.json package-lock.json prisma.config.ts ./
COPY prisma ./prisma
COPY src/db/generate.ts ./src/db/generate.ts
RUN npm ci

COPY . .
# tsc type-checks while it compiles; then the dev dependencies (TypeScript, vitest, ...) go.
RUN npm run build && npm prune --omit=dev && npm cache clean --force


FROM node:24-bookworm-slim

ENV NODE_ENV=production \
    PORT=4000 \
    HOST=0.0.0.0 \
    DATA_DIR=/data \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false

WORKDIR /app
RUN mkdir -p /data && chown node:node /data
# Read-only for the `node` user: the server writes only under DATA_DIR.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/prisma ./prisma
COPY --from=build /app/dist ./dist
USER node

EXPOSE 4000
# /ready answers 200 once the database is reachable and migrations are applied.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# node directly (not npm) so SIGTERM reaches the server and shutdown is graceful.
# The young generation is capped as `npm start` does (README, "Memory").
# The worker runs `node --max-semi-space-size=16 dist/jobs/worker-main.js`; demo data: `node dist/db/seed-cli.js --posts N`.
CMD ["node", "--max-semi-space-size=16", "dist/server.js"]
