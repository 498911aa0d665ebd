# syntax=docker/dockerfile:1
# Portico in a container: a static binary built by scripts/build (the same flags as CI), on
# distroless/static (CA certificates, tzdata, no shell), as a non-root user, with a read-only root
# filesystem: the only writable place is the /data volume (SQLite) and, for SQLite's temporary
# files, /tmp (mount a tmpfs: `docker run --read-only --tmpfs /tmp ...`; compose.yaml does).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG PORTICO_VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    PORTICO_VERSION="${PORTICO_VERSION}" scripts/build /out/portico \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/portico /usr/local/bin/portico
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
ENV PORTICO_DATABASE_URL=/data/portico.db \
    PORTICO_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080
# The image has no curl: the binary checks itself (GET http://127.0.0.1:8080/healthz).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/portico", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/portico"]
CMD ["serve", "-addr", "0.0.0.0:8080"]
