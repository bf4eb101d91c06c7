#!/usr/bin/env bash
# The mini lab: a real toxiproxy-server and a small real HTTP service on 127.0.0.1,
# for experiments/http_latency.yaml until the full lab (ledger, catalog, PostgreSQL) lands.
#
#   compose/minilab.sh up      start what is not already answering (idempotent)
#   compose/minilab.sh down    stop only what `up` started (pid files under .chaoskit/minilab)
#   compose/minilab.sh status
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=$ROOT/.chaoskit/minilab
TOXIPROXY_PORT=8474
WEB_PORT=18080

answers() { curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null; }

wait_for() { # url, what
    local i
    for i in $(seq 1 100); do
        answers "$1" && return 0
        sleep 0.1
    done
    echo "error: $2 did not answer at $1 within 10s" >&2
    return 1
}

start() { # name, url, command...
    local name=$1 url=$2
    shift 2
    if answers "$url"; then
        echo "ok: $name already answers at $url"
        return 0
    fi
    mkdir -p "$STATE"
    nohup "$@" >"$STATE/$name.log" 2>&1 </dev/null &
    echo $! >"$STATE/$name.pid"
    wait_for "$url" "$name"
    echo "started: $name (pid $(cat "$STATE/$name.pid")) at $url"
}

stop() { # name
    local pidfile=$STATE/$1.pid
    [[ -f $pidfile ]] || return 0
    local pid
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        echo "stopped: $1 (pid $pid)"
    fi
    rm -f "$pidfile"
}

case ${1:-} in
up)
    mkdir -p "$STATE/www"
    echo ok >"$STATE/www/health"
    start toxiproxy "http://127.0.0.1:$TOXIPROXY_PORT/version" \
        toxiproxy-server -host 127.0.0.1 -port "$TOXIPROXY_PORT"
    start web "http://127.0.0.1:$WEB_PORT/health" \
        python3 -m http.server "$WEB_PORT" --bind 127.0.0.1 --directory "$STATE/www"
    ;;
down)
    stop web
    stop toxiproxy
    ;;
status)
    answers "http://127.0.0.1:$TOXIPROXY_PORT/version" && echo "toxiproxy: up" || echo "toxiproxy: down"
    answers "http://127.0.0.1:$WEB_PORT/health" && echo "web: up" || echo "web: down"
    ;;
*)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
