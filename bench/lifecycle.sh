#!/usr/bin/env bash
# bench/lifecycle.sh: POR-1 export throughput and RET-4 erase time of one tenant holding
# RECORDS records (default 1,000,000 of 256 bytes), side by side with the naive alternatives
# in the same run: `sqlite3 .dump` of the tenant's database (ciphertext only, no manifest, not
# something a customer can use) and `DELETE FROM records` + rm of the file (no key
# destruction, no verification, no certificate).
#
#   bench/lifecycle.sh                 # RECORDS=1000000 VALUE=256
set -euo pipefail
RECORDS=${RECORDS:-1000000}
VALUE=${VALUE:-256}
root=$(cd "$(dirname "$0")/.." && pwd)
for p in sqlite3 bc curl; do
    command -v "$p" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$p" >/dev/null; }
done
make -C "$root" build >/dev/null
bin=$root/build/custodia
tmp=$(mktemp -d /var/tmp/cst-lbench-XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
cd "$tmp"
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }

"$bin" init --data-dir var --master-key-file mk --json >/dev/null
t0=$(now)
"$root/build/bench_backup_fill" var mk 1 "$RECORDS" "$VALUE"
printf 'tenant: %d records of %d bytes (filled in %.1f s)\n' "$RECORDS" "$VALUE" "$(secs "$t0" "$(now)")"
db=$(ls var/tenants/*.db)
token=$("$root/build/bench_lifecycle_tool" token var mk)
port=$((20000 + RANDOM % 20000))
"$bin" serve --data-dir var --master-key-file mk --listen 127.0.0.1:$port >serve.log 2>&1 &
pid=$!
for _ in $(seq 100); do curl -skf https://127.0.0.1:$port/v1/sys/health >/dev/null && break; sleep 0.1; done

t0=$(now)
curl -sk -H "Authorization: Bearer $token" https://127.0.0.1:$port/v1/export -o export.ndjson
t1=$(now)
bytes=$(stat -c %s export.ndjson)
tail -1 export.ndjson | grep -q '"type":"manifest"'
lines=$(wc -l < export.ndjson)
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
t2=$(now)
sqlite3 "$db" .dump > dump.sql
t3=$(now)
dbytes=$(stat -c %s dump.sql)
printf '%-46s %7.1f s %8.1f MB/s %10.0f records/s\n' "custodia GET /v1/export (HTTPS, decrypted)" \
    "$(secs "$t0" "$t1")" "$(echo "$bytes / 1048576 / $(secs "$t0" "$t1")" | bc -l)" \
    "$(echo "$RECORDS / $(secs "$t0" "$t1")" | bc -l)"
printf '%-46s %7.1f s %8.1f MB/s %10.0f records/s\n' "sqlite3 .dump of the file (ciphertext)" \
    "$(secs "$t2" "$t3")" "$(echo "$dbytes / 1048576 / $(secs "$t2" "$t3")" | bc -l)" \
    "$(echo "$RECORDS / $(secs "$t2" "$t3")" | bc -l)"
echo "export: $lines lines, $((bytes / 1048576)) MiB; dump: $((dbytes / 1048576)) MiB"

cp "$db" naive.db
t0=$(now)
sqlite3 naive.db "PRAGMA secure_delete=ON; DELETE FROM records;" && rm -f naive.db && sync
t1=$(now)
esecs=$("$root/build/bench_lifecycle_tool" erase var mk)
printf '%-46s %7.2f s\n' "custodia crypto-erase + verify + certificate" "$esecs"
printf '%-46s %7.2f s\n' "naive DELETE (secure_delete) + rm, no proof" "$(secs "$t0" "$t1")"
