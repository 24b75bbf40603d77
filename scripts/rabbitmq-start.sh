#!/usr/bin/env bash
# Starts a local RabbitMQ node on 127.0.0.1:5672 without systemd. Idempotent: does nothing if it already runs.
# Env: RABBITMQ_PORT (5672), RABBITMQ_DATA_DIR (${TMPDIR:-/tmp}/conveyor-rabbitmq).
# With RABBITMQ_TLS_PORT set (scripts/test.sh sets 5671), the node also listens for TLS on 127.0.0.1 there, with
# the test CA's certificate for localhost (scripts/tls-material.sh, in RABBITMQ_TLS_DIR, default
# ${TMPDIR:-/tmp}/conveyor-tls), accepts client certificates (EXTERNAL login, user conveyor-client, from the
# certificate's common name) and still serves PLAIN logins without one.
set -euo pipefail
PORT="${RABBITMQ_PORT:-5672}"
DATA_DIR="${RABBITMQ_DATA_DIR:-${TMPDIR:-/tmp}/conveyor-rabbitmq}"
export RABBITMQ_NODENAME="${RABBITMQ_NODENAME:-rabbit@localhost}"
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT="$PORT"
export ERL_EPMD_ADDRESS=127.0.0.1
# The Erlang distribution port (node-to-node and rabbitmqctl) on loopback only, like the AMQP listener.
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
mkdir -p "$DATA_DIR"
CONF="$DATA_DIR/rabbitmq.conf"
cat >"$CONF" <<CONF
listeners.tcp.default = 127.0.0.1:$PORT
loopback_users.guest = true
CONF
export RABBITMQ_CONFIG_FILE="$CONF"
TLS_PORT="${RABBITMQ_TLS_PORT:-}"
if [ -n "$TLS_PORT" ]; then
    TLS_DIR=$("$(dirname "$0")/tls-material.sh" "${RABBITMQ_TLS_DIR:-${TMPDIR:-/tmp}/conveyor-tls}")
    cat >>"$CONF" <<CONF
listeners.ssl.default = 127.0.0.1:$TLS_PORT
ssl_options.cacertfile = $TLS_DIR/ca.pem
ssl_options.certfile = $TLS_DIR/server.pem
ssl_options.keyfile = $TLS_DIR/server.key
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
auth_mechanisms.1 = PLAIN
auth_mechanisms.2 = AMQPLAIN
auth_mechanisms.3 = EXTERNAL
ssl_cert_login_from = common_name
CONF
    # The EXTERNAL mechanism's plugin, enabled in a plugins file of this node's own.
    export RABBITMQ_ENABLED_PLUGINS_FILE="$DATA_DIR/enabled_plugins"
    rabbitmq-plugins -q enable --offline rabbitmq_auth_mechanism_ssl >/dev/null
    chmod 644 "$RABBITMQ_ENABLED_PLUGINS_FILE"
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

if port_open && rabbitmqctl -q await_startup --timeout 5 >/dev/null 2>&1; then
    echo "rabbitmq: already running on 127.0.0.1:$PORT"
    exit 0
fi

rabbitmq-server -detached
for _ in $(seq 1 120); do
    port_open && break
    sleep 0.5
done
port_open || { echo "rabbitmq: port $PORT did not open" >&2; exit 1; }
rabbitmqctl -q await_startup --timeout 60
if [ -n "$TLS_PORT" ]; then
    # The user that a client certificate with CN conveyor-client logs in as (its password is never used).
    if ! rabbitmqctl -q list_users | grep -q '^conveyor-client'; then
        rabbitmqctl -q add_user conveyor-client "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >/dev/null
    fi
    rabbitmqctl -q set_permissions -p / conveyor-client '.*' '.*' '.*' >/dev/null
    echo "rabbitmq: TLS on 127.0.0.1:$TLS_PORT (certificate for localhost, CA $TLS_DIR/ca.pem)"
fi
echo "rabbitmq: running on 127.0.0.1:$PORT (node $RABBITMQ_NODENAME)"
