#!/usr/bin/env bash
# make run's server: run.sh BIN DATA_DIR MASTER_KEY [CONFIG] [LISTEN]. The first run
# initialises DATA_DIR (master key MASTER_KEY, outside the data dir) and prints the operator's
# one-time password; every run then serves, on LISTEN when given (default 127.0.0.1:8443, or the
# config's [http] listen). A CONFIG given once is remembered in DATA_DIR/.make-run-config and
# used by every later run without CONFIG= (CONFIG=none forgets it), so a restart keeps the
# settings the file had set. Says which config is in use and where the server log goes.
set -euo pipefail
bin=$1 data_dir=$2 master_key=$3 config=${4:-} listen=${5:-}
remembered="$data_dir/.make-run-config"

if [ ! -f "$data_dir/system.db" ]; then
    "$bin" init --data-dir "$data_dir" --master-key-file "$master_key"
else
    echo "custodia: using existing data dir $data_dir (remove it and $master_key to start over)"
fi

if [ "$config" = none ]; then
    rm -f "$remembered"
    config=""
    echo "custodia: no config file (forgot the one make run remembered)"
elif [ -n "$config" ]; then
    [ -f "$config" ] || { echo "custodia: CONFIG=$config: no such file" >&2; exit 2; }
    config=$(realpath "$config")
    printf '%s\n' "$config" >"$remembered"
    echo "custodia: using config $config (remembered in $remembered: later 'make run' uses it" \
        "again; CONFIG=none forgets it)"
elif [ -f "$remembered" ]; then
    config=$(cat "$remembered")
    [ -f "$config" ] || {
        echo "custodia: the remembered config $config (in $remembered) is gone: give CONFIG=FILE," \
            "or CONFIG=none to run without one" >&2
        exit 2
    }
    echo "custodia: using config $config, remembered from an earlier 'make run CONFIG=...'" \
        "($remembered; CONFIG=none forgets it)"
fi

# Where the server log goes: log.file of the config, else standard error.
log_file=""
if [ -n "$config" ]; then
    log_file=$(awk '
        /^[ \t]*\[/ { gsub(/[][ \t]/, ""); section = $0; next }
        { line = $0; sub(/[;#].*/, "", line) }
        line ~ /=/ {
            key = line; sub(/=.*/, "", key); gsub(/[ \t]/, "", key)
            val = line; sub(/^[^=]*=[ \t]*/, "", val); sub(/[ \t]+$/, "", val)
            if (section == "log" && key == "file")
                file = val
        }
        END { print file }' "$config")
fi
if [ -n "$log_file" ]; then
    echo "custodia: the server log goes to $log_file (set in $config)"
else
    echo "custodia: the server log goes to this terminal (standard error; node.log_file in a" \
        "CONFIG file sends it to a file)"
fi

args=(serve --data-dir "$data_dir" --master-key-file "$master_key")
[ -n "$config" ] && args+=(--config "$config")
[ -n "$listen" ] && args+=(--listen "$listen")
exec "$bin" "${args[@]}"
