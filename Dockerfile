# syntax=docker/dockerfile:1
# One image for both roles (`bulwark broker`, `bulwark operator`) from the production build.
#
#   buildah build --layers --secret id=npmca,src=/etc/ssl/certs/ca-certificates.crt -t bulwark:dev .
#   docker buildx build --secret id=npmca,src=/etc/ssl/certs/ca-certificates.crt -t bulwark:dev .
#
# The bases are build arguments, so an offline build can use local images of the same layout
# (scripts/image-build.sh makes them; docs/install.md, "Building the image"). The npmca secret is
# optional: a CA bundle npm should trust while installing, never stored in a layer.
ARG BUILD_IMAGE=docker.io/library/node:20-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs20-debian12:nonroot

# Production dependencies only. Its own stage, keyed by the manifests alone: a source change
# reuses this layer. --ignore-scripts: nothing runs at install (native dependencies are prebuilt
# platform packages).
FROM ${BUILD_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npmca,required=false \
    --mount=type=cache,target=/root/.npm,sharing=locked \
    NODE_EXTRA_CA_CERTS=/run/secrets/npmca npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# The build: every dependency (the TypeScript compiler), then the sources; the C compiler of
# this stage builds build/*.node. It fails rather than ship an image without the native addons.
FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npmca,required=false \
    --mount=type=cache,target=/root/.npm,sharing=locked \
    NODE_EXTRA_CA_CERTS=/run/secrets/npmca npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build-native.mjs scripts/
COPY native/ native/
COPY bin/ bin/
COPY src/ src/
RUN npm run build \
 && test -f build/crc32c.node && test -f build/sockfd.node \
 && rm -f dist/.tsbuildinfo dist/.built

# The runtime: node, the app, its production dependencies; no shell, no compiler, no npm.
# Files are root's and read-only to the numeric user it runs as, so the root filesystem can be
# mounted read-only: the broker writes only to its data volume, both roles only to /tmp (a volume).
FROM ${RUNTIME_IMAGE}
ARG VERSION=0.0.0
ARG SOURCE=""
# The build's time (SOURCE_DATE_EPOCH, RFC 3339): buildah --timestamp gives every file of the
# layers and the image itself this time, so the same sources give the same digest.
ARG CREATED=1970-01-01T00:00:00Z
LABEL org.opencontainers.image.title="bulwark" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.description="Kubernetes operator and Kafka-compatible broker (bulwark operator | bulwark broker)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
COPY --from=deps /app/node_modules/ node_modules/
COPY --from=build /src/package.json ./
COPY --from=build /src/bin/ bin/
COPY --from=build /src/dist/ dist/
COPY --from=build /src/build/*.node build/
USER 65532:65532
ENV NODE_ENV=production
STOPSIGNAL SIGTERM
# Exec form: node is PID 1 and receives SIGTERM itself (the broker flushes and closes its
# partitions, the operator releases its Lease).
ENTRYPOINT ["/nodejs/bin/node", "/app/bin/bulwark.js"]
