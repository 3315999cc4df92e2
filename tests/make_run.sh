#!/usr/bin/env bash
# make run's server script (scripts/run.sh) in a fresh directory: the first run initialises and
# serves on LISTEN; a CONFIG is used and remembered, a later run without CONFIG= uses it again
# and says so; each run says where the server log goes; CONFIG=none forgets it.
set -euo pipefail
bin=${1:?usage: make_run.sh CUSTODIA_BIN SOURCE_DIR} src=${2:?}
dir=$(mktemp -d /tmp/cst-makerun-XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
cd "$dir"

# run CONFIG LISTEN: starts run.sh, waits until it serves (out.txt), leaves its pid in $pid
run() {
    : >out.txt
    "$src/scripts/run.sh" "$bin" ./var ./custodia-master.key "$1" "$2" >out.txt 2>err.txt &
    pid=$!
    for _ in $(seq 200); do
        grep -q 'serving https' out.txt && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "run.sh did not serve:"; cat out.txt err.txt; exit 1
}
stop() { kill "$pid"; wait "$pid" || true; pid=; }
expect() { grep -qF -- "$1" out.txt || { echo "missing \"$1\" in:"; cat out.txt; exit 1; }; }

run "" 127.0.0.1:0
expect "one-time password"
expect "the server log goes to this terminal"
stop

printf '[log]\nfile = %s/node.log\n' "$dir" >first.ini
run first.ini 127.0.0.1:0
expect "using config $dir/first.ini (remembered in ./var/.make-run-config"
expect "the server log goes to $dir/node.log"
stop
grep -q 'stopped cleanly' node.log # the log went where it said

run "" 127.0.0.1:0
expect "using config $dir/first.ini, remembered from an earlier 'make run CONFIG=...'"
expect "the server log goes to $dir/node.log"
stop

run none 127.0.0.1:0
expect "no config file"
[ ! -e var/.make-run-config ]
echo "make run: 4 runs passed"
