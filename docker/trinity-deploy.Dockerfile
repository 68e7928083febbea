# syntax=docker/dockerfile:1
# trinity-deploy: multi-stage build, distroless non-root runtime. Mount a kubeconfig to use it:
#   docker run --rm -v ~/.kube:/home/nonroot/.kube:ro trinity/trinity-deploy:0.1.0 validate
# Build from the repository root:  docker build -f docker/trinity-deploy.Dockerfile -t trinity/trinity-deploy:0.1.0 .

FROM rust:1.90-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p trinity-deploy \
 && install -D target/release/trinity-deploy /out/trinity-deploy

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/trinity-deploy /usr/local/bin/trinity-deploy
WORKDIR /app
COPY config/stack.yaml /app/config/stack.yaml
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/trinity-deploy"]
CMD ["validate"]
