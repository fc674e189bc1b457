# The host's Node.js on the local Debian base (see scripts/docker-test-images.sh): stands in for
# node:<major>-bookworm-slim where no image registry is reachable. The host's CA bundle comes along
# so that `npm ci` in deploy/Dockerfile reaches the npm registry through whatever TLS proxy the host
# trusts (Node reads NODE_EXTRA_CA_CERTS besides its own CA list).
ARG BASE
FROM ${BASE}
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && node --version && npm --version
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
CMD ["node"]
