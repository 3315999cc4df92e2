#!/usr/bin/env bash
# bench/run.sh: custodia against PostgreSQL 15 (TLS, pgaudit on reads and writes,
# synchronous_commit, values encrypted with pgcrypto) doing the same work, side by side in one
# run: durable encrypted writes of VALUE-byte records, then point reads that decrypt them, by
# THREADS concurrent clients on keep-alive connections, OPS operations each.
#
#   bench/run.sh                      # THREADS=4 OPS=2000 VALUE=256
#   THREADS=8 OPS=5000 bench/run.sh
#
# Installs what it needs for itself (PostgreSQL 15, pgaudit, oathtool) on Debian 12, uses a
# temporary directory, listens on 127.0.0.1 only and stops everything it started.
set -euo pipefail
THREADS=${THREADS:-4}
OPS=${OPS:-2000}
VALUE=${VALUE:-256}
root=$(cd "$(dirname "$0")/.." && pwd)

need=()
for p in postgresql-15 postgresql-15-pgaudit oathtool jq; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
make -C "$root" build >/dev/null
bin=$root/build/custodia
load=$root/build/bench_load
pgbin=/usr/lib/postgresql/15/bin

tmp=$(mktemp -d /tmp/cst-bench-XXXXXX)
chmod 755 "$tmp"
cst_pid= pg_started=
cleanup() {
    [ -n "$cst_pid" ] && kill "$cst_pid" 2>/dev/null && wait "$cst_pid" 2>/dev/null
    [ -n "$pg_started" ] && runuser -u postgres -- "$pgbin/pg_ctl" -D "$tmp/pg" -m fast stop >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT

echo "== custodia $("$bin" version | cut -d' ' -f2): $THREADS clients x $OPS ops, $VALUE-byte values"
cd "$tmp"
"$bin" init --data-dir ./var --json > init.json
"$bin" serve --data-dir ./var --listen 127.0.0.1:0 > serve.out 2> serve.log &
cst_pid=$!
for _ in $(seq 100); do grep -q serving serve.out 2>/dev/null && break; sleep 0.1; done
base=https://127.0.0.1:$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' serve.out | head -1)
api() { curl -sS --fail-with-body --cacert var/tls/cert.pem "$@"; }
first_login() { # tenant user one-time-password -> token of a session with password and MFA set
    local t
    t=$(api -X POST "$base/v1/auth/login" -H 'Content-Type: application/json' \
        -d "{\"tenant\":\"$1\",\"username\":\"$2\",\"password\":\"$3\"}" | jq -r .token)
    api -X POST "$base/v1/auth/password" -H "Authorization: Bearer $t" \
        -H 'Content-Type: application/json' \
        -d "{\"current\":\"$3\",\"new\":\"vault-load-passphrase-2026\"}" >/dev/null
    local secret
    secret=$(api -X POST "$base/v1/auth/totp" -H "Authorization: Bearer $t" | jq -r .secret)
    api -X POST "$base/v1/auth/totp/confirm" -H "Authorization: Bearer $t" \
        -H 'Content-Type: application/json' \
        -d "{\"code\":\"$(oathtool --totp -b "$secret")\"}" >/dev/null
    echo "$t"
}
op=$(first_login _sys admin "$(jq -r .operator.password init.json)")
owner_pw=$(api -X POST "$base/v1/sys/tenants" -H "Authorization: Bearer $op" \
    -H 'Content-Type: application/json' -d '{"name":"bench","owner":{"username":"owner"}}' |
    jq -r .owner.password)
owner=$(first_login bench owner "$owner_pw")
api -X POST "$base/v1/buckets" -H "Authorization: Bearer $owner" \
    -H 'Content-Type: application/json' -d '{"name":"b"}' >/dev/null
token=$(api -X POST "$base/v1/tokens" -H "Authorization: Bearer $owner" \
    -H 'Content-Type: application/json' \
    -d '{"name":"bench","permissions":["records.read","records.write"]}' | jq -r .token)
"$load" "$base" var/tls/cert.pem "$token" b "$THREADS" "$OPS" "$VALUE" > custodia.json
kill "$cst_pid"; wait "$cst_pid" 2>/dev/null || true; cst_pid=

echo "== PostgreSQL 15 with TLS, pgaudit (read, write), synchronous_commit=on, pgcrypto"
mkdir -p pg && chown postgres "$tmp" pg
runuser -u postgres -- "$pgbin/initdb" -D "$tmp/pg" -A trust -U bench >/dev/null
install -o postgres -m 600 var/tls/cert.pem pg/server.crt
install -o postgres -m 600 var/tls/key.pem pg/server.key
port=$((20000 + RANDOM % 20000))
cat >> pg/postgresql.conf <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$tmp'
ssl = on
ssl_min_protocol_version = 'TLSv1.2'
shared_preload_libraries = 'pgaudit'
pgaudit.log = 'read, write'
fsync = on
synchronous_commit = on
max_connections = 300
CONF
echo "hostssl all all 127.0.0.1/32 trust" > pg/pg_hba.conf
runuser -u postgres -- "$pgbin/pg_ctl" -D "$tmp/pg" -l "$tmp/pg.log" -w start >/dev/null
pg_started=1
export PGHOST=127.0.0.1 PGPORT=$port PGUSER=bench PGDATABASE=postgres PGSSLMODE=require
psql -q -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION pgcrypto;
CREATE EXTENSION pgaudit;
CREATE TABLE records (bucket text, key text, value bytea, PRIMARY KEY (bucket, key));
SQL
keys=$((THREADS * OPS))
cat > put.sql <<SQL
\set k random(1, $keys)
INSERT INTO records VALUES ('b', 'k' || :k,
  encrypt_iv(convert_to(repeat('v', $VALUE), 'UTF8'), '\\x$(printf '%064d' 1)'::bytea, gen_random_bytes(16), 'aes'))
  ON CONFLICT (bucket, key) DO UPDATE SET value = excluded.value;
SQL
cat > get.sql <<SQL
\set k random(1, $keys)
SELECT decrypt_iv(value, '\\x$(printf '%064d' 1)'::bytea, '\\x00000000000000000000000000000000'::bytea, 'aes')
  FROM records WHERE bucket = 'b' AND key = 'k' || :k;
SQL
pgb() { # script -> JSON line like bench_load's
    pgbench -n -M prepared -c "$THREADS" -j "$THREADS" -t "$OPS" -f "$1" -l --log-prefix="$tmp/pgblog" \
        2>/dev/null > pgbench.out
    local tps lat
    tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' pgbench.out | head -1)
    cat "$tmp"/pgblog* | awk '{print $3/1000}' | sort -n > lat.txt
    rm -f "$tmp"/pgblog*
    local n p50 p99
    n=$(wc -l < lat.txt)
    p50=$(sed -n "$((n / 2 + 1))p" lat.txt)
    p99=$(sed -n "$((n * 99 / 100 + 1))p" lat.txt)
    printf '{"phase":"%s","ops":%d,"ops_per_s":%.0f,"p50_ms":%.2f,"p99_ms":%.2f}\n' \
        "$2" "$n" "$tps" "$p50" "$p99"
}
pgb put.sql PUT > pg.json
pgb get.sql GET >> pg.json

echo
printf '%-44s | %-30s | %-30s\n' "work ($THREADS clients, $VALUE-byte values)" "custodia" "PostgreSQL 15 + pgaudit"
printf '%-44s | %-30s | %-30s\n' "" "ops/s   p50 ms   p99 ms" "ops/s   p50 ms   p99 ms"
for phase in PUT GET; do
    label="durable encrypted write (PUT / INSERT)"
    [ "$phase" = GET ] && label="point read with decryption (GET / SELECT)"
    c=$(grep "\"$phase\"" custodia.json)
    p=$(grep "\"$phase\"" pg.json)
    printf '%-44s | %-7s %-8s %-13s | %-7s %-8s %-13s\n' "$label" \
        "$(echo "$c" | jq -r .ops_per_s)" "$(echo "$c" | jq -r .p50_ms)" "$(echo "$c" | jq -r .p99_ms)" \
        "$(echo "$p" | jq -r .ops_per_s)" "$(echo "$p" | jq -r .p50_ms)" "$(echo "$p" | jq -r .p99_ms)"
done
failures=$(jq -s 'map(.failures) | add' custodia.json)
echo
echo "custodia failures: $failures. custodia: TLS 1.3 keep-alive HTTPS, AES-256-GCM per field, blind index,"
echo "SQLite WAL synchronous=FULL, one transaction per write. PostgreSQL: TLS, pgcrypto AES-CBC,"
echo "pgaudit logging every statement (its log is not fsync'ed), synchronous_commit=on."
