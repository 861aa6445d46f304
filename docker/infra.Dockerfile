# infra.Dockerfile - the servers the compose stack needs, from Debian bookworm packages, so that
# `docker compose up` works on a machine that can reach no registry (see docs/deploy.md):
#
#   --target nats        nats-server with JetStream (Debian's 2.9), curl for its healthcheck
#   --target postgres    PostgreSQL 15 with a first-start initdb (docker/postgres-entrypoint)
#   --target prometheus  Prometheus scraping every service (profile observability)
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS nats
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends nats-server curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/log/* \
 && mkdir -p /data && chown 65532:65532 /data
USER 65532:65532
EXPOSE 4222 6222 8222
VOLUME /data
HEALTHCHECK --interval=2s --timeout=3s --retries=15 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8222/healthz?js-enabled-only=true"]
ENTRYPOINT ["nats-server"]
CMD ["-js", "-sd", "/data", "-m", "8222"]

FROM ${BASE_IMAGE} AS postgres
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* /var/log/* \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
COPY docker/postgres-entrypoint /usr/local/bin/postgres-entrypoint
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
USER postgres
EXPOSE 5432
VOLUME /var/lib/postgresql/data
HEALTHCHECK --interval=2s --timeout=3s --retries=15 \
  CMD ["pg_isready", "-h", "127.0.0.1", "-q"]
ENTRYPOINT ["postgres-entrypoint"]

FROM ${BASE_IMAGE} AS prometheus
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends prometheus curl \
 && rm -rf /var/lib/apt/lists/* /var/log/* \
 && mkdir -p /prometheus && chown 65532:65532 /prometheus
COPY docker/prometheus.yml /etc/aegis/prometheus.yml
USER 65532:65532
EXPOSE 9090
VOLUME /prometheus
HEALTHCHECK --interval=5s --timeout=3s --retries=10 CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:9090/-/ready"]
ENTRYPOINT ["prometheus", "--config.file=/etc/aegis/prometheus.yml", "--storage.tsdb.path=/prometheus", "--web.listen-address=:9090"]
