#!/usr/bin/env bash
# bench/backup.sh: backup, verify and restore throughput of a node holding >= 1 GiB across
# 1,000 tenants (BAK-1, BAK-2), side by side with the naive alternative in the same run:
# tar of the data dir piped through openssl enc (AES-256-CTR), which is what a cron script
# does - no consistent snapshot of a live WAL database, no per-file hashes, no signature,
# no integrity_check, no tenant restore. Reports MB/s, records/s and the restore time this
# implies for 100 GiB against the 8-hour objective.
#
#   bench/backup.sh                  # TENANTS=1000 RECORDS=16 VALUE=65536 (1 GiB of values)
set -euo pipefail
TENANTS=${TENANTS:-1000}
RECORDS=${RECORDS:-16}
VALUE=${VALUE:-65536}
root=$(cd "$(dirname "$0")/.." && pwd)
for p in openssl bc; do
    command -v "$p" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$p" >/dev/null; }
done
make -C "$root" build >/dev/null
bin=$root/build/custodia
fill=$root/build/bench_backup_fill
tmp=$(mktemp -d /var/tmp/cst-bbench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
ulimit -n 65536 2>/dev/null || ulimit -n 8192
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }

"$bin" init --data-dir var --master-key-file mk --json >/dev/null
t0=$(now)
"$fill" var mk "$TENANTS" "$RECORDS" "$VALUE"
t1=$(now)
bytes=$(du -sb var | cut -f1)
records=$((TENANTS * RECORDS))
mb=$(echo "$bytes / 1048576" | bc -l)
printf 'data dir: %.0f MiB, %d tenants, %d records (filled in %.1f s)\n' "$mb" "$TENANTS" "$records" "$(secs "$t0" "$t1")"
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true

row() { # name seconds
    printf '%-34s %8.1f s %9.1f MB/s %10.0f records/s\n' "$1" "$2" "$(echo "$mb / $2" | bc -l)" \
        "$(echo "$records / $2" | bc -l)"
}
echo
printf '%-34s %10s %14s %18s\n' "step" "time" "throughput" "records"

t0=$(now); "$bin" backup create --data-dir var --master-key-file mk --to "$tmp/bk" >/dev/null; t1=$(now)
create=$(secs "$t0" "$t1"); row "custodia backup create" "$create"
b=$(ls "$tmp"/bk/bk_*)
t0=$(now); "$bin" backup verify "$b" --data-dir var --master-key-file mk --scratch "$tmp/scratch" >/dev/null; t1=$(now)
row "custodia backup verify" "$(secs "$t0" "$t1")"
t0=$(now); "$bin" backup restore --from "$b" --data-dir "$tmp/restored/var" --master-key-file mk --seal-key-out "$tmp/restored/k0" >/dev/null; t1=$(now)
restore=$(secs "$t0" "$t1"); row "custodia backup restore (node)" "$restore"
tenant=$(ls var/tenants | head -1 | sed 's/\.db$//')
t0=$(now); "$bin" backup restore --from "$b" --data-dir var --master-key-file mk --tenant "$tenant" >/dev/null; t1=$(now)
printf '%-34s %8.2f s   (one tenant of %d records)\n' "custodia backup restore --tenant" "$(secs "$t0" "$t1")" "$RECORDS"

head -c 32 /dev/urandom > alt.key
t0=$(now); tar -C var -cf - . | openssl enc -aes-256-ctr -pbkdf2 -pass file:alt.key -out alt.tar.enc; sync alt.tar.enc; t1=$(now)
row "tar | openssl enc (alternative)" "$(secs "$t0" "$t1")"
mkdir alt-restored
t0=$(now); openssl enc -d -aes-256-ctr -pbkdf2 -pass file:alt.key -in alt.tar.enc | tar -C alt-restored -xf -; sync; t1=$(now)
row "openssl enc -d | tar (alternative)" "$(secs "$t0" "$t1")"

echo
printf 'backup file: %.0f MiB for %.0f MiB of data dir\n' "$(echo "$(stat -c %s "$b") / 1048576" | bc -l)" "$mb"
hours=$(echo "$restore * 102400 / $mb / 3600" | bc -l)
printf 'implied whole-node restore of 100 GiB: %.2f h (objective: 8 h)\n' "$hours"
