# Redis from Debian's packages with the official image's interface (redis-server and redis-cli on
# PATH, /data, runs as the redis user): stands in for redis:7-bookworm in the compose test, where
# no image registry is reachable.
ARG BASE
FROM ${BASE}
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends redis-server >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
WORKDIR /data
USER redis
EXPOSE 6379
CMD ["redis-server"]
