# A small static image: aifbench built for musl, on distroless/static
# (no shell, no libc, non-root). The same image is the operator, the client
# pods (`aifbench loadgen`) and the simulator (`aifbench sim`).
#
#   docker build -t aifbench:dev .
FROM rust:1.89-alpine AS build
RUN apk add --no-cache musl-dev gcc make
WORKDIR /src
COPY . .
# The repository's .cargo/config.toml points the target dir at the host's
# shared cache; inside the image build it lives here.
ENV CARGO_TARGET_DIR=/build/target
RUN cargo build --release --locked --bin aifbench \
 && cp /build/target/release/aifbench /aifbench \
 && strip /aifbench

# The same binary with an OpenSSH client, for an operator that reaches
# Slurm over SSH (the distroless image has no ssh):
#   docker build --target with-ssh -t aifbench:ssh .
FROM alpine:3.20 AS with-ssh
RUN apk add --no-cache openssh-client
COPY --from=build /aifbench /usr/local/bin/aifbench
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/aifbench"]
CMD ["operator"]

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /aifbench /usr/local/bin/aifbench
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/aifbench"]
CMD ["operator"]
