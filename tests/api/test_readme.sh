#!/usr/bin/env bash
# Runs the README's quick-start block, exactly as written, against a live server in a fresh
# directory. Only the two lines that name the server and the operator's password are replaced.
set -euo pipefail
bin=${CUSTODIA_BIN:?}
readme=${1:?usage: test_readme.sh README.md}
dir=$(mktemp -d /tmp/cst-readme-XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT

cd "$dir"
"$bin" init --data-dir ./var --json > init.json
op_pw=$(jq -r .operator.password init.json)
"$bin" serve --data-dir ./var --listen 127.0.0.1:0 > serve.out 2> serve.log &
pid=$!
for _ in $(seq 100); do grep -q serving serve.out 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' serve.out | head -1)
[ -n "$port" ] || { echo "server did not start"; cat serve.log; exit 1; }

# The block between the quickstart markers, minus its two set-up lines.
sed -n '/<!-- quickstart -->/,/<!-- \/quickstart -->/p' "$readme" | sed '1,2d;$d' | sed '$d' \
  | grep -v '^export CUSTODIA=' | grep -v '^OP_PW=' > quickstart.sh
[ "$(wc -l < quickstart.sh)" -gt 20 ] || { echo "quickstart block not found"; exit 1; }
export CUSTODIA=https://127.0.0.1:$port CACERT=var/tls/cert.pem OP_PW=$op_pw
bash -euo pipefail quickstart.sh > out.txt 2>&1 || { echo "quick start failed:"; cat out.txt; exit 1; }

# What the walk-through promises.
grep -q '"name":"acme"' out.txt
grep -q 'Ada Lovelace <ada@example.com>' out.txt
grep -q '"key":"cust/42"' out.txt
grep -q '"permissions":\["records.read"\]' out.txt
if grep -rq 'Lovelace' var/; then echo "plaintext found under var/"; exit 1; fi
echo "README quick start: 1 passed, 0 failed"
