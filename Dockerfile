# Postline API and worker image (one image, two commands; see docker-compose.yml).
# TypeScript runs through tsx, so there is no build step: install, then copy the sources.
FROM node:24-bookworm-slim

ENV NODE_ENV=production \
    PORT=4000 \
    HOST=0.0.0.0 \
    DATA_DIR=/data \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false

WORKDIR /app
# Created up front and owned by `node`: npm ci writes src/generated/ as that user.
RUN mkdir -p /data /app/src/db /app/src/generated && chown -R node:node /app /data
USER node

# Dependencies first (cached while package*.json and the Prisma schema are unchanged).
# The postinstall script generates the Prisma client and Pothos types from prisma/.
COPY --chown=node:node package.json package-lock.json prisma.config.ts ./
COPY --chown=node:node prisma ./prisma
COPY --chown=node:node src/db/generate.ts ./src/db/generate.ts
RUN npm ci --omit=dev && npm cache clean --force

COPY --chown=node:node . .

EXPOSE 4000
# /ready answers 200 once the database is reachable and migrations are applied.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# node directly (not npm) so SIGTERM reaches the server and shutdown is graceful.
CMD ["node", "--import", "tsx", "src/server.ts"]
