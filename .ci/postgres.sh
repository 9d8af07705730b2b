#!/usr/bin/env bash
# Install (if needed) and start a local PostgreSQL server for the team-store tests.
# Idempotent: safe to run again while the server is already up. Needs root (apt, pg_ctlcluster).
# Prints one line on stdout, the URL to export as STEPSTONE_TEST_PG:
#   export STEPSTONE_TEST_PG="$(.ci/postgres.sh)"
# and writes it to .ci/postgres.env (STEPSTONE_TEST_PG=...) for scripts/test.sh to source.
# Everything else goes to stderr.
set -euo pipefail

PORT="${STEPSTONE_PG_PORT:-5432}"
log() { echo "postgres.sh: $*" >&2; }

if ! command -v pg_lsclusters >/dev/null 2>&1 || [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]; then
    log "installing postgresql (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
fi

VERSION="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
CLUSTER=main
if ! pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1==v && $2==c {found=1} END {exit !found}'; then
    log "creating cluster $VERSION/$CLUSTER on port $PORT"
    pg_createcluster "$VERSION" "$CLUSTER" --port "$PORT" >&2
fi
CONF_DIR="/etc/postgresql/$VERSION/$CLUSTER"
HBA="$CONF_DIR/pg_hba.conf"

# trust auth on the loopback only (a throwaway test server); added once, first so it wins
MARK="# stepstone-ci: trust on loopback"
if ! grep -qF "$MARK" "$HBA"; then
    log "enabling trust auth on 127.0.0.1 in $HBA"
    tmp="$(mktemp)"
    { echo "$MARK"
      echo "host    all    all    127.0.0.1/32    trust"
      echo "host    all    all    ::1/128         trust"
      cat "$HBA"; } > "$tmp"
    cat "$tmp" > "$HBA"
    rm -f "$tmp"
    RELOAD=1
fi
# listen on loopback only, with room for many test clients (needs a restart to change)
WANT="listen_addresses = '127.0.0.1'
max_connections = 200"
CONF="$CONF_DIR/conf.d/stepstone-ci.conf"
if [ "$(cat "$CONF" 2>/dev/null)" != "$WANT" ]; then
    printf '%s\n' "$WANT" > "$CONF"
    RESTART=1
fi

status="$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1==v && $2==c {print $4}')"
if [ "$status" != "online" ]; then
    log "starting cluster $VERSION/$CLUSTER"
    pg_ctlcluster "$VERSION" "$CLUSTER" start >&2
elif [ "${RESTART:-0}" = 1 ]; then
    log "restarting cluster $VERSION/$CLUSTER for its new settings"
    pg_ctlcluster "$VERSION" "$CLUSTER" restart >&2
elif [ "${RELOAD:-0}" = 1 ]; then
    pg_ctlcluster "$VERSION" "$CLUSTER" reload >&2
fi
PORT="$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1==v && $2==c {print $3}')"

for _ in $(seq 1 60); do
    if pg_isready -q -h 127.0.0.1 -p "$PORT"; then
        URL="postgresql://postgres@127.0.0.1:$PORT/postgres"
        echo "STEPSTONE_TEST_PG=$URL" > "$(dirname "${BASH_SOURCE[0]}")/postgres.env"
        echo "$URL"
        exit 0
    fi
    sleep 0.5
done
log "the server did not become ready; see /var/log/postgresql/postgresql-$VERSION-$CLUSTER.log"
exit 1
