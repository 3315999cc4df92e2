#!/usr/bin/env bash
# bench/audit.sh: durable, audited PUTs per second with the audit log's group commit on and
# off, side by side in one run, at 1, 16 and 64 concurrent HTTPS clients (LOG-1).
#
# Every PUT is acknowledged only after its record (SQLite, synchronous=FULL) and its audit
# entry (fdatasync) are durable. Clients are spread over 8 tenants (one bench_load process
# each, keep-alive connections); a tenant's writes are serialised by its database, so the
# audit log's group commit is what lets concurrent requests of different tenants share
# fdatasyncs. http.threads = 64 so that 64 requests can be in flight.
#
#   bench/audit.sh                   # OPS=400 per client (capped at 6400 per run), VALUE=256
set -euo pipefail
OPS=${OPS:-400}
VALUE=${VALUE:-256}
TENANTS=8
root=$(cd "$(dirname "$0")/.." && pwd)
for p in oathtool jq; do
    command -v "$p" >/dev/null || { apt-get update -qq && apt-get install -y -qq oathtool jq >/dev/null; }
done
make -C "$root" build >/dev/null
bin=$root/build/custodia
load=$root/build/bench_load
tmp=$(mktemp -d /tmp/cst-abench-XXXXXX)
cst_pid=
cleanup() {
    [ -n "$cst_pid" ] && kill "$cst_pid" 2>/dev/null && wait "$cst_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp"
"$bin" init --data-dir ./var --json > init.json

start() { # group_commit
    printf '[http]\nthreads = 64\n[audit]\ngroup_commit = %s\n' "$1" > custodia.ini
    "$bin" serve --config custodia.ini --data-dir ./var --listen 127.0.0.1:0 > serve.out 2> serve.log &
    cst_pid=$!
    for _ in $(seq 100); do grep -q serving serve.out 2>/dev/null && break; sleep 0.1; done
    base=https://127.0.0.1:$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' serve.out | head -1)
}
stop() { kill "$cst_pid"; wait "$cst_pid" 2>/dev/null || true; cst_pid=; }
api() { curl -sS --fail-with-body --cacert var/tls/cert.pem "$@"; }
first_login() { # tenant user one-time-password -> session token (password changed, MFA on)
    local t secret
    t=$(api -X POST "$base/v1/auth/login" -H 'Content-Type: application/json' \
        -d "{\"tenant\":\"$1\",\"username\":\"$2\",\"password\":\"$3\"}" | jq -r .token)
    api -X POST "$base/v1/auth/password" -H "Authorization: Bearer $t" \
        -H 'Content-Type: application/json' \
        -d "{\"current\":\"$3\",\"new\":\"vault-load-passphrase-2026\"}" >/dev/null
    secret=$(api -X POST "$base/v1/auth/totp" -H "Authorization: Bearer $t" | jq -r .secret)
    api -X POST "$base/v1/auth/totp/confirm" -H "Authorization: Bearer $t" \
        -H 'Content-Type: application/json' \
        -d "{\"code\":\"$(oathtool --totp -b "$secret")\"}" >/dev/null
    echo "$t"
}

start true
op=$(first_login _sys admin "$(jq -r .operator.password init.json)")
for i in $(seq $TENANTS); do
    pw=$(api -X POST "$base/v1/sys/tenants" -H "Authorization: Bearer $op" \
        -H 'Content-Type: application/json' -d "{\"name\":\"bench$i\",\"owner\":{\"username\":\"owner\"}}" |
        jq -r .owner.password)
    owner=$(first_login "bench$i" owner "$pw")
    api -X POST "$base/v1/buckets" -H "Authorization: Bearer $owner" \
        -H 'Content-Type: application/json' -d '{"name":"b"}' >/dev/null
    api -X POST "$base/v1/tokens" -H "Authorization: Bearer $owner" \
        -H 'Content-Type: application/json' \
        -d '{"name":"bench","permissions":["records.write","records.read"]}' | jq -r .token > "token$i"
done
stop

run() { # clients group_commit -> "ops/s p50 p99"
    local clients=$1 procs per ops
    procs=$(( clients < TENANTS ? clients : TENANTS ))
    per=$(( clients / procs ))
    ops=$(( OPS * clients > 6400 ? 6400 / clients : OPS ))
    start "$2"
    local pids=()
    for i in $(seq $procs); do
        "$load" "$base" var/tls/cert.pem "$(cat "token$i")" b "$per" "$ops" "$VALUE" PUT > "out$i" &
        pids+=($!)
    done
    wait "${pids[@]}"
    stop
    cat out* | jq -s '{ops: (map(.ops) | add), secs: (map(.seconds) | max),
        p50: (map(.p50_ms) | max), p99: (map(.p99_ms) | max), failures: (map(.failures) | add)}' > sum.json
    rm -f out*
    printf '%6.0f  %6.2f  %7.2f' "$(jq '.ops / .secs' sum.json)" "$(jq .p50 sum.json)" "$(jq .p99 sum.json)"
    [ "$(jq .failures sum.json)" = 0 ] || printf '  (%s failures)' "$(jq .failures sum.json)"
}

echo "== custodia $("$bin" version | cut -d' ' -f2): durable audited PUTs, $VALUE-byte values, $TENANTS tenants, $(nproc) cores"
printf '%-8s | %-28s | %-28s\n' clients "group commit on" "group commit off"
printf '%-8s | %-28s | %-28s\n' "" "PUT/s   p50 ms  p99 ms" "PUT/s   p50 ms  p99 ms"
for c in 1 16 64; do
    on=$(run "$c" true)
    off=$(run "$c" false)
    printf '%-8s | %-28s | %-28s\n' "$c" "$on" "$off"
done
"$bin" audit verify --data-dir ./var --seal-key ./custodia-audit-k0.key | tail -1
