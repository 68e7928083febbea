# syntax=docker/dockerfile:1
# trinity-proxy: multi-stage build, distroless non-root runtime (uid 65532, as k8s/ expects).
# Build from the repository root:  docker build -f docker/trinity-proxy.Dockerfile -t trinity/trinity-proxy:0.1.0 .
# (BuildKit reads docker/trinity-proxy.Dockerfile.dockerignore for this build.)

FROM rust:1.90-bookworm AS build
# cmake: Pingora's zlib-ng build (libz-ng-sys).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p trinity-proxy \
 && install -D target/release/trinity-proxy /out/trinity-proxy

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/trinity-proxy /usr/local/bin/trinity-proxy
COPY config/trinity.yaml /etc/trinity-proxy/trinity.yaml
USER 65532:65532
EXPOSE 80 8080 9901
ENTRYPOINT ["/usr/local/bin/trinity-proxy"]
CMD ["--config", "/etc/trinity-proxy/trinity.yaml"]
