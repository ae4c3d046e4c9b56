# syntax=docker/dockerfile:1
# The image behind docker-compose.yml's migrate, worker and app services.

FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
COPY functions ./functions
RUN npm run build

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# Compose brings a real Postgres: the embedded one and pino-pretty are devDependencies.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY migrations ./migrations
COPY functions ./functions
# `npx pgdispatch` must find the package's own command offline, whatever npm's version.
RUN chmod +x dist/cli/main.js && ln -s ../../dist/cli/main.js node_modules/.bin/pgdispatch
USER node
EXPOSE 3000 9464
CMD ["npx", "pgdispatch", "--help"]
