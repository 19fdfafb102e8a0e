# The example services (examples/start.ts: the catalog and notification services, `npm start`) as a container
# image: compiled JavaScript and production dependencies only, run as the unprivileged `node` user, with `node` as
# PID 1 so that SIGTERM reaches the services and stops them in order.
#   docker build -t glam-examples .
#   docker run --rm -p 8010:8010 glam-examples
# They run on the embedded defaults (PGlite, the in-memory bus) unless told of servers:
#   docker run --rm -p 8010:8010 -e CATALOG_DATABASE__HOST=... -e CATALOG_NATS__SERVERS=nats://... glam-examples

FROM node:20.18.1-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY examples ./examples
# One ES module per example (.glam/start.js, and its lazily loaded chunks in .glam/start/), as `npm start` runs it: the
# toolkit and Effect bundled in, the other dependencies left to node_modules.
COPY scripts/build-examples.mjs ./scripts/
RUN node scripts/build-examples.mjs start
# The production manifest: the toolkit's peer dependencies (Effect, OpenTelemetry) are the examples' own.
COPY scripts/deploy-manifest.ts ./scripts/
RUN npx tsx scripts/deploy-manifest.ts .deploy \
  && cd .deploy && npm install --package-lock-only --ignore-scripts --no-audit --no-fund

FROM node:20.18.1-bookworm-slim AS runtime
ENV NODE_ENV=production CATALOG_HTTP__HOST=0.0.0.0
WORKDIR /app
COPY --from=build /app/.deploy/package.json /app/.deploy/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/.glam/start.js ./.glam/start.js
COPY --from=build /app/.glam/start ./.glam/start
COPY examples/config ./examples/config
# The embedded database (outside prod) is kept in examples/.glam, the one folder the node user may write.
RUN mkdir -p examples/.glam && chown node:node examples/.glam
USER node
EXPOSE 8010
# The slim image has no curl: Node's fetch asks /api/v1/health.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.CATALOG_HTTP__PORT || 8010}/api/v1/health`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", ".glam/start.js"]
