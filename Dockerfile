# Gatehouse: the console and its CLI. Needs DATABASE_URL (Postgres) and APP_SECRET in production.
# Node 22 LTS: the release CI runs the suite on (.ci/node.sh); package.json's engines asks for 22.12 or later.
FROM node:22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY src ./src
COPY views ./views
COPY public ./public
COPY migrations ./migrations
COPY tsconfig.json ./
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# Node runs as PID 1 and handles SIGTERM itself: requests in flight finish, then it exits 0.
# One malloc arena: argon2's 19 MiB buffers are reused from it rather than kept once per thread, and the heap stays
# small: see README, Performance.
ENV MALLOC_ARENA_MAX=1
CMD ["node", "--max-old-space-size=128", "--import", "tsx", "src/main.ts"]
