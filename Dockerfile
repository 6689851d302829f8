# syntax=docker/dockerfile:1
# Multi-stage build of the peregrine binary (docs/deploy.md, "Containers").
# NOT BUILT OR RUN ON THE MACHINES THIS PROJECT IS DEVELOPED ON: they have no Docker engine.
#
#   docker build -t peregrine .
#   docker run --rm -p 8080:8080 peregrine                       # portable engine (see below)
#   docker run --rm -p 8080:8080 --security-opt seccomp=unconfined peregrine   # io_uring
#
# Docker's default seccomp profile denies io_uring_setup; the binary then runs the portable
# epoll engine and logs why (docs/architecture.md, "Two engines, one protocol").

FROM rust:1.88-bookworm AS build
WORKDIR /src
COPY . .
# BuildKit cache mounts keep the registry and the build directory between builds, so a source
# change does not rebuild the dependencies (Docker 23+ builds with BuildKit by default).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin peregrine \
    && cp target/release/peregrine /peregrine

# glibc, CA certificates and nothing else; "nonroot" is uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /peregrine /usr/local/bin/peregrine
USER 65532:65532
EXPOSE 8080 9090
# All interfaces inside the container; the admin endpoints (/metrics, /healthz, /livez) apart.
ENV PEREGRINE_URLS=http://*:8080 \
    PEREGRINE_ADMIN_URLS=http://*:9090 \
    PEREGRINE_SHUTDOWN_TIMEOUT=25
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/peregrine"]
