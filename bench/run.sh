#!/usr/bin/env bash
# bench/run.sh: custodia against PostgreSQL 15 (TLS, pgaudit on reads and writes,
# synchronous_commit=on, values encrypted with pgcrypto) doing the same work, side by side in
# one run (issue 14): durable encrypted writes (PUT / INSERT) and point reads that decrypt them
# (GET / SELECT), by 4, 16 and 64 clients on warm keep-alive connections, with 256-byte and
# 16 KiB values, spread round-robin over 10 and over 10,000 tenants; custodia's reads once with
# the default (durable) read audit and once with `audit.read_durability = batched`. Then custodia
# on PostgreSQL (issue 20: `store.driver = postgresql`, a database of the same PostgreSQL server,
# over TLS, its pgaudit off: custodia writes its own audit log), one node and two nodes sharing
# the database with the clients split between them, at the smaller tenant count.
#
#   bench/run.sh                  # the whole matrix, about 10-15 minutes on 2 cores
#   QUICK=1 bench/run.sh          # a smoke run, about 1-3 minutes
#   CLIENTS="16" VALUES=256 TENANTS="10 10000" OPS=1000 bench/run.sh
#
# Knobs (environment): CLIENTS, VALUES (bytes), TENANTS, MANY_VALUES (the values run at the
# largest tenant count), OPS (operations per connection), PHASE_SECONDS (cap on each timed
# phase of custodia: a connection stops starting operations after it; the ops column shows
# what was done), EXTRA_CONFIG (lines appended to custodia's configuration file).
#
# Installs what it needs for itself (PostgreSQL 15, pgaudit, jq, eatmydata) on Debian 12, uses a
# temporary directory, listens on 127.0.0.1 only and stops everything it started.
set -euo pipefail
if [ "${QUICK:-0}" = 1 ]; then
    CLIENTS=${CLIENTS:-"4 16"} VALUES=${VALUES:-"256 16384"} TENANTS=${TENANTS:-"10 1000"}
    OPS=${OPS:-100} PHASE_SECONDS=${PHASE_SECONDS:-5}
fi
CLIENTS=${CLIENTS:-"4 16 64"}
VALUES=${VALUES:-"256 16384"}
TENANTS=${TENANTS:-"10 10000"}
MANY_VALUES=${MANY_VALUES:-"${VALUES%% *}"}
OPS=${OPS:-400}
PHASE_SECONDS=${PHASE_SECONDS:-25}
EXTRA_CONFIG=${EXTRA_CONFIG:-}
root=$(cd "$(dirname "$0")/.." && pwd)
few=${TENANTS%% *} many=${TENANTS##* }

need=()
for p in postgresql-15 postgresql-15-pgaudit jq eatmydata; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
make -C "$root" build >/dev/null
bin=$root/build/custodia
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
cd "$tmp"
results=$tmp/results.json # one line per measurement: sys, work, tenants, value, clients, figures

cells() { # tenants -> "value clients" lines of the matrix at that tenant count
    local values=$VALUES v c
    [ "$1" = "$many" ] && [ "$many" != "$few" ] && values=$MANY_VALUES
    for v in $values; do for c in $CLIENTS; do echo "$v $c"; done; done
}
record() { # sys work tenants < bench_load JSON line -> results
    jq -c --arg s "$1" --arg w "$2" --argjson t "$3" \
        '{sys: $s, work: $w, tenants: $t, value: .value_bytes, clients: .clients, ops, failures,
          reconnects, ops_per_s, p50_ms, p99_ms}' >> "$results"
}

# ---- custodia ----
start() { # data-dir [config] -> serving (0) or refused (1)
    local args=(--data-dir "$1" --listen 127.0.0.1:0)
    [ -n "${2:-}" ] && args=(--config "$2" "${args[@]}")
    "$bin" serve "${args[@]}" > serve.out 2> serve.log &
    cst_pid=$!
    for _ in $(seq 300); do
        grep -q serving serve.out 2>/dev/null && break
        kill -0 "$cst_pid" 2>/dev/null || { wait "$cst_pid" || true; cst_pid=; return 1; }
        sleep 0.1
    done
    grep -q serving serve.out || { echo "custodia did not start:" >&2; cat serve.log >&2; exit 1; }
    base=https://127.0.0.1:$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' serve.out | head -1)
}
stop() { kill "$cst_pid"; wait "$cst_pid" 2>/dev/null || true; cst_pid=; }
load() { # tokens clients value phase prefix [keys] -> one JSON line
    BENCH_SECONDS=$PHASE_SECONDS BENCH_KEYS=${6:-0} timeout $((PHASE_SECONDS * 3 + 120)) \
        "$root/build/bench_load" "$base" "$cacert" "@$1" b "$2" "$OPS" "$3" "$4" "$5"
}
custodia_tenants() { # tenant count: PUT, GET (durable read audit), GET (batched read audit)
    local t=$1 dir=$tmp/c$1 v c out
    mkdir -p "$dir"
    "$bin" init --data-dir "$dir/var" --json > "$dir/init.json"
    # Tenants, owners, buckets and tokens straight into the stopped node (no Argon2id per
    # owner); fsync is skipped while building it (eatmydata), then everything is synced.
    eatmydata "$root/build/bench_tenants" "$dir/var" "$dir/custodia-master.key" "$t" b > "$dir/tokens"
    sync
    cacert=$dir/var/tls/cert.pem
    printf '%s\n' "$EXTRA_CONFIG" > "$dir/default.ini"
    printf '%s\n[audit]\nread_durability = batched\n' "$EXTRA_CONFIG" > "$dir/batched.ini"
    start "$dir/var" "$dir/default.ini"
    while read -r v c; do
        out=$(load "$dir/tokens" "$c" "$v" PUT "v$v-c$c-")
        record custodia PUT "$t" <<< "$out"
        echo "$(jq -r .min_done <<< "$out")" > "$dir/keys-$v-$c"
        load "$dir/tokens" "$c" "$v" GET "v$v-c$c-" "$(cat "$dir/keys-$v-$c")" | record custodia GET "$t"
    done < <(cells "$t")
    stop
    if start "$dir/var" "$dir/batched.ini"; then
        while read -r v c; do
            load "$dir/tokens" "$c" "$v" GET "v$v-c$c-" "$(cat "$dir/keys-$v-$c")" |
                record custodia "GET batched" "$t"
        done < <(cells "$t")
        stop
    else
        echo "batched: not available in this build ($(tail -1 serve.log))"
        batched_missing=1
    fi
}
batched_missing=
echo "== custodia $("$bin" version | cut -d' ' -f2): clients $CLIENTS, values $VALUES B, tenants $TENANTS, $OPS ops per connection"
for t in $TENANTS; do custodia_tenants "$t"; done

# ---- PostgreSQL 15 + pgaudit ----
echo "== PostgreSQL 15 with TLS, pgaudit (read, write), synchronous_commit=on, pgcrypto"
mkdir -p pg && chown postgres "$tmp" pg
runuser -u postgres -- "$pgbin/initdb" -D "$tmp/pg" -A trust -U bench >/dev/null
install -o postgres -m 600 "$tmp/c$few/var/tls/cert.pem" pg/server.crt
install -o postgres -m 600 "$tmp/c$few/var/tls/key.pem" pg/server.key
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
# The tenants are a column of the key (see bench/README.md): one table, prepared statements.
psql -q -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION pgcrypto;
CREATE EXTENSION pgaudit;
CREATE TABLE records (tenant int, bucket text, key text, value bytea,
                      PRIMARY KEY (tenant, bucket, key));
SQL
key="'\\x$(printf '%064d' 1)'::bytea" # the same AES key for every tenant
pg_scripts() { # tenants value clients: put.sql, get.sql over this cell's keys
    local n=$(($3 * OPS))
    cat > put.sql <<SQL
\set n random(0, $((n - 1)))
\set t :n % $1
INSERT INTO records VALUES (:t, 'b', 'v$2-c$3-' || :n,
  encrypt_iv(convert_to(repeat('v', $2), 'UTF8'), $key, gen_random_bytes(16), 'aes'))
  ON CONFLICT (tenant, bucket, key) DO UPDATE SET value = excluded.value;
SQL
    cat > get.sql <<SQL
\set n random(0, $((n - 1)))
\set t :n % $1
SELECT decrypt_iv(value, $key, '\\x00000000000000000000000000000000'::bytea, 'aes')
  FROM records WHERE tenant = :t AND bucket = 'b' AND key = 'v$2-c$3-' || :n;
SQL
    cat > fill.sql <<SQL
INSERT INTO records SELECT n % $1, 'b', 'v$2-c$3-' || n,
  encrypt_iv(convert_to(repeat('v', $2), 'UTF8'), $key, gen_random_bytes(16), 'aes')
  FROM generate_series(0, $((n - 1))) AS n ON CONFLICT DO NOTHING;
SQL
}
pgb() { # script clients -> JSON line like bench_load's
    rm -f "$tmp"/pgblog*
    timeout $((PHASE_SECONDS * 3 + 120)) pgbench -n -M prepared -c "$2" -j "$2" -t "$OPS" -f "$1" \
        -l --log-prefix="$tmp/pgblog" 2>/dev/null > pgbench.out
    local tps n p50 p99
    tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' pgbench.out | head -1)
    cat "$tmp"/pgblog* | awk '{print $3/1000}' | sort -n > lat.txt
    n=$(wc -l < lat.txt)
    p50=$(sed -n "$((n / 2 + 1))p" lat.txt)
    p99=$(sed -n "$((n * 99 / 100 + 1))p" lat.txt)
    printf '{"ops":%d,"failures":0,"reconnects":0,"ops_per_s":%.0f,"p50_ms":%.2f,"p99_ms":%.2f}\n' \
        "$n" "$tps" "$p50" "$p99"
}
pg_record() { # work tenants value clients < JSON line
    jq -c --arg w "$1" --argjson t "$2" --argjson v "$3" --argjson c "$4" \
        '{sys: "pg", work: $w, tenants: $t, value: $v, clients: $c} + .' >> "$results"
}
for t in $TENANTS; do
    while read -r v c; do
        pg_scripts "$t" "$v" "$c"
        pgb put.sql "$c" | pg_record PUT "$t" "$v" "$c"
        psql -q -v ON_ERROR_STOP=1 -f fill.sql # every key the reads pick exists (not timed)
        pgb get.sql "$c" | pg_record GET "$t" "$v" "$c"
    done < <(cells "$t")
done

# ---- custodia on PostgreSQL: one node, then two nodes on one database ----
start_node() { # data-dir config out-prefix -> pid in $node_pid, base URL in $node_base
    "$bin" serve --config "$2" --data-dir "$1" --listen 127.0.0.1:0 > "$3.out" 2> "$3.log" &
    node_pid=$!
    for _ in $(seq 300); do
        grep -q serving "$3.out" 2>/dev/null && break
        kill -0 "$node_pid" 2>/dev/null || { echo "custodia on PostgreSQL did not start:" >&2; cat "$3.log" >&2; exit 1; }
        sleep 0.1
    done
    node_base=https://127.0.0.1:$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$3.out" | head -1)
}
combine() { # two bench_load JSON lines -> one: ops and rates added, the worse latencies
    jq -s -c '{value_bytes: .[0].value_bytes, clients: (.[0].clients + .[1].clients),
               ops: (.[0].ops + .[1].ops), failures: (.[0].failures + .[1].failures),
               reconnects: (.[0].reconnects + .[1].reconnects),
               ops_per_s: (.[0].ops_per_s + .[1].ops_per_s), min_done: ([.[0].min_done, .[1].min_done] | min),
               p50_ms: ([.[0].p50_ms, .[1].p50_ms] | max), p99_ms: ([.[0].p99_ms, .[1].p99_ms] | max)}'
}
custodia_pg() { # nodes (1 or 2): PUT and GET at the smaller tenant count
    local nodes=$1 t=$few dir=$tmp/p$1 v c out half db=cst$1 pids=()
    mkdir -p "$dir"
    psql -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $db" -c "ALTER DATABASE $db SET pgaudit.log = 'none'"
    printf '%s\n[node]\nmaster_key_file = %s\n[store]\ndriver = postgresql\ndsn = host=127.0.0.1 port=%s user=bench dbname=%s sslmode=require\npool_size = 16\n' \
        "$EXTRA_CONFIG" "$dir/master.key" "$port" "$db" > "$dir/node.ini"
    mkdir -p "$dir/a" "$dir/b" # each node's data dir, and its K0 beside it
    "$bin" init --config "$dir/node.ini" --data-dir "$dir/a/var" --master-key-file "$dir/master.key" --json > "$dir/init.json"
    BENCH_CONFIG=$dir/node.ini eatmydata "$root/build/bench_tenants" "$dir/a/var" "$dir/master.key" "$t" b > "$dir/tokens"
    sync
    start_node "$dir/a/var" "$dir/node.ini" "$dir/a/serve"; pids+=("$node_pid"); local base_a=$node_base
    local base_b=
    if [ "$nodes" = 2 ]; then
        "$bin" init --join --config "$dir/node.ini" --data-dir "$dir/b/var" --master-key-file "$dir/master.key" --json > /dev/null
        start_node "$dir/b/var" "$dir/node.ini" "$dir/b/serve"; pids+=("$node_pid"); base_b=$node_base
    fi
    while read -r v c; do
        for work in PUT GET; do
            keys=0; [ "$work" = GET ] && keys=$(cat "$dir/keys-$v-$c")
            if [ "$nodes" = 1 ]; then
                cacert=$dir/a/var/tls/cert.pem base=$base_a
                out=$(load "$dir/tokens" "$c" "$v" "$work" "v$v-c$c-" "$keys")
            else # half the clients on each node, each on its own key prefix, at once
                half=$(( (c + 1) / 2 ))
                out=$( { cacert=$dir/a/var/tls/cert.pem base=$base_a load "$dir/tokens" "$half" "$v" "$work" "a$v-c$c-" "$keys" &
                         cacert=$dir/b/var/tls/cert.pem base=$base_b load "$dir/tokens" "$half" "$v" "$work" "b$v-c$c-" "$keys" &
                         wait; } | combine)
            fi
            [ "$work" = PUT ] && jq -r .min_done <<< "$out" > "$dir/keys-$v-$c"
            record "custodia-pg$nodes" "$work" "$t" <<< "$out"
        done
    done < <(cells "$t")
    for p in "${pids[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
}
echo "== custodia on PostgreSQL 15 (TLS to the database): one node, then two nodes on one database"
custodia_pg 1
custodia_pg 2

# ---- the table ----
get() { # sys work tenants value clients field
    jq -r --arg s "$1" --arg w "$2" --argjson t "$3" --argjson v "$4" --argjson c "$5" --arg f "$6" \
        'select(.sys == $s and .work == $w and .tenants == $t and .value == $v and .clients == $c)
         | .[$f]' "$results" | head -1 | grep . || echo n/a
}
ratio() { # a b -> a/b as "0.42x", n/a when either is missing
    if [ "$1" != n/a ] && [ "$2" != n/a ] && [ "$2" != 0 ]; then
        awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'
    else
        echo n/a
    fi
}
capped() { # ops clients -> ops, with * when PHASE_SECONDS stopped the phase early
    if [ "$1" != n/a ] && [ "$1" -lt $(($2 * OPS)) ]; then echo "$1*"; else echo "$1"; fi
}
echo
echo "custodia $("$bin" version | cut -d' ' -f2), $(date -u +%Y-%m-%d), $(nproc) cores, $OPS ops per warm connection"
row='%-8s %-6s %-4s %-12s | %-8s %-7s %-8s %-6s %-4s | %-8s %-7s %-8s | %s\n'
printf "$row" tenants value cli work "ops/s" "p50 ms" "p99 ms" ops err "PG ops/s" "p50 ms" "p99 ms" \
    "custodia/PG"
for t in $TENANTS; do
    while read -r v c; do
        for w in PUT GET "GET batched"; do
            pw=$w; [ "$w" = "GET batched" ] && pw=GET
            if [ "$w" = "GET batched" ] && [ -n "$batched_missing" ]; then
                printf '%-8s %-6s %-4s %-12s | batched: not available in this build\n' "$t" "$v" "$c" "$w"
                continue
            fi
            cr=$(get custodia "$w" "$t" "$v" "$c" ops_per_s) pr=$(get pg "$pw" "$t" "$v" "$c" ops_per_s)
            printf "$row" "$t" "$v" "$c" "$w" "$cr" "$(get custodia "$w" "$t" "$v" "$c" p50_ms)" \
                "$(get custodia "$w" "$t" "$v" "$c" p99_ms)" "$(capped "$(get custodia "$w" "$t" "$v" "$c" ops)" "$c")" \
                "$(get custodia "$w" "$t" "$v" "$c" failures)" \
                "$pr" "$(get pg "$pw" "$t" "$v" "$c" p50_ms)" "$(get pg "$pw" "$t" "$v" "$c" p99_ms)" \
                "$(ratio "$cr" "$pr")"
        done
    done < <(cells "$t")
done
echo
top=${CLIENTS##* }
for v in $VALUES; do
    printf 'p99 at %s clients, %s tenants, %s B: PUT %s ms, GET %s ms, GET batched %s ms (PostgreSQL: %s, %s ms)\n' \
        "$top" "$few" "$v" "$(get custodia PUT "$few" "$v" "$top" p99_ms)" \
        "$(get custodia GET "$few" "$v" "$top" p99_ms)" "$(get custodia "GET batched" "$few" "$v" "$top" p99_ms)" \
        "$(get pg PUT "$few" "$v" "$top" p99_ms)" "$(get pg GET "$few" "$v" "$top" p99_ms)"
done
if [ "$many" != "$few" ]; then
    while read -r v c; do
        printf '%s tenants vs %s, %s B, %s clients: PUT %s, GET %s, GET batched %s (PostgreSQL: %s, %s)\n' \
            "$many" "$few" "$v" "$c" \
            "$(ratio "$(get custodia PUT "$many" "$v" "$c" ops_per_s)" "$(get custodia PUT "$few" "$v" "$c" ops_per_s)")" \
            "$(ratio "$(get custodia GET "$many" "$v" "$c" ops_per_s)" "$(get custodia GET "$few" "$v" "$c" ops_per_s)")" \
            "$(ratio "$(get custodia "GET batched" "$many" "$v" "$c" ops_per_s)" "$(get custodia "GET batched" "$few" "$v" "$c" ops_per_s)")" \
            "$(ratio "$(get pg PUT "$many" "$v" "$c" ops_per_s)" "$(get pg PUT "$few" "$v" "$c" ops_per_s)")" \
            "$(ratio "$(get pg GET "$many" "$v" "$c" ops_per_s)" "$(get pg GET "$few" "$v" "$c" ops_per_s)")"
    done < <(cells "$many")
fi
echo
echo "custodia on PostgreSQL ($few tenants): ops/s, p99 ms"
row2='%-6s %-4s %-5s | %-16s | %-16s | %-16s | %-16s\n'
printf "$row2" value cli work "SQLite node" "PG, 1 node" "PG, 2 nodes" "plain PostgreSQL"
while read -r v c; do
    for w in PUT GET; do
        cell() { echo "$(get "$1" "$w" "$few" "$v" "$c" ops_per_s) / $(get "$1" "$w" "$few" "$v" "$c" p99_ms)"; }
        printf "$row2" "$v" "$c" "$w" "$(cell custodia)" "$(cell custodia-pg1)" "$(cell custodia-pg2)" "$(cell pg)"
    done
done < <(cells "$few")
echo
echo "*: stopped by PHASE_SECONDS=$PHASE_SECONDS before $OPS ops per connection (the rate is still"
echo "   measured over the ops done; reads then read back the keys written)."
echo "custodia failures (err): $(jq -s 'map(select(.sys == "custodia") | .failures) | add' "$results"),"\
     "connections re-opened while timed: $(jq -s 'map(select(.sys == "custodia") | .reconnects) | add' "$results")."
echo "custodia: TLS 1.3 keep-alive HTTPS, AES-256-GCM per field, blind index, SQLite WAL synchronous=FULL,"
echo "an audit entry per request made durable before the answer (reads too, unless batched)."
echo "PostgreSQL: TLS, pgcrypto AES-CBC, synchronous_commit=on, pgaudit logging every statement;"
echo "pgaudit's log is not fsync'ed: PostgreSQL does less durable work than custodia here."
