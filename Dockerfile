# Dockerfile - the seven Aegis services. One build stage compiles everything (Debian bookworm, the
# -dev packages scripts/deps.sh lists, make); one shared runtime stage installs only the runtime
# libraries the binaries link (found with ldd + dpkg -S in the build stage, so a new library needs
# no edit here); then one tiny stage per service:
#
#   docker build --target gateway -t aegis/gateway:dev .        (likewise every service)
#
# Final images: no compiler, no shell tools needed (healthcheck = `<binary> --healthcheck`), uid
# 65532, nothing written outside /data (shared storage) and /tmp, so they run with a read-only root.
# BASE_IMAGE defaults to the official image; on a machine without a registry make one from Debian
# packages with scripts/base-image and pass --build-arg BASE_IMAGE=aegis-base:bookworm.
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
COPY scripts/deps.sh scripts/deps.sh
# The compiler and every -dev package of deps.sh (not its servers and test tools, nor the fuzzer runtime).
RUN apt-get update \
 && apt-get install -y --no-install-recommends $(scripts/deps.sh --list \
      | grep -E -- '-dev$|^(build-essential|pkg-config|protobuf-c-compiler|ca-certificates)$' \
      | grep -v -- '^libclang-rt') \
 && rm -rf /var/lib/apt/lists/*
COPY . .
RUN make -j"$(nproc)" BUILD=/build all \
 && mkdir -p /out/bin \
 && for s in gateway auth orchestrator validate extract-metadata extract-content ai-worker; do \
      strip --strip-unneeded -o /out/bin/$s /build/bin/$s; done \
 && for f in $(ldd /out/bin/* | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u); do \
      dpkg -S "$f" 2>/dev/null || dpkg -S "$(readlink -f "$f")" 2>/dev/null \
        || dpkg -S "$(readlink -f "$f" | sed 's,^/usr,,')" \
        || { echo "no package owns $f" >&2; exit 1; }; \
    done | cut -d: -f1 | sort -u > /out/runtime-packages \
 && echo ca-certificates >> /out/runtime-packages \
 && echo "runtime packages:" $(cat /out/runtime-packages)

FROM ${BASE_IMAGE} AS runtime
ENV DEBIAN_FRONTEND=noninteractive
COPY --from=build /out/runtime-packages /tmp/runtime-packages
RUN apt-get update \
 && apt-get install -y --no-install-recommends $(cat /tmp/runtime-packages) \
 && rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/log/* /tmp/runtime-packages \
 && mkdir -p /data && chown 65532:65532 /data
ENV STORAGE_URL=file:///data
USER 65532:65532
WORKDIR /tmp

FROM runtime AS gateway
COPY --from=build /out/bin/gateway /usr/local/bin/gateway
EXPOSE 8000
HEALTHCHECK --interval=5s --timeout=3s --retries=3 CMD ["/usr/local/bin/gateway", "--healthcheck"]
ENTRYPOINT ["/usr/local/bin/gateway"]

FROM runtime AS auth
COPY --from=build /out/bin/auth /usr/local/bin/auth
EXPOSE 9005
HEALTHCHECK --interval=5s --timeout=3s --retries=3 CMD ["/usr/local/bin/auth", "--healthcheck"]
ENTRYPOINT ["/usr/local/bin/auth"]

FROM runtime AS orchestrator
COPY --from=build /out/bin/orchestrator /usr/local/bin/orchestrator
EXPOSE 9000
HEALTHCHECK --interval=5s --timeout=3s --retries=3 CMD ["/usr/local/bin/orchestrator", "--healthcheck"]
ENTRYPOINT ["/usr/local/bin/orchestrator"]

FROM runtime AS validate
COPY --from=build /out/bin/validate /usr/local/bin/validate
EXPOSE 9001
HEALTHCHECK --interval=5s --timeout=3s --retries=3 CMD ["/usr/local/bin/validate", "--healthcheck"]
ENTRYPOINT ["/usr/local/bin/validate"]

FROM runtime AS extract-metadata
COPY --from=build /out/bin/extract-metadata /usr/local/bin/extract-metadata
EXPOSE 9002
HEALTHCHECK --interval=5s --timeout=3s --retries=3 CMD ["/usr/local/bin/extract-metadata", "--healthcheck"]
ENTRYPOINT ["/usr/local/bin/extract-metadata"]

FROM runtime AS extract-content
COPY --from=build /out/bin/extract-content /usr/local/bin/extract-content
EXPOSE 9003
HEALTHCHECK --interval=5s --timeout=3s --retries=3 CMD ["/usr/local/bin/extract-content", "--healthcheck"]
ENTRYPOINT ["/usr/local/bin/extract-content"]

FROM runtime AS ai-worker
COPY --from=build /out/bin/ai-worker /usr/local/bin/ai-worker
EXPOSE 9004
HEALTHCHECK --interval=5s --timeout=3s --retries=3 CMD ["/usr/local/bin/ai-worker", "--healthcheck"]
ENTRYPOINT ["/usr/local/bin/ai-worker"]
