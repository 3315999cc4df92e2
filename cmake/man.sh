#!/bin/sh
# Renders one man page: man.sh SCDOC IN.md OUT [CUSTODIA]. With CUSTODIA (custodia.ini.5), the
# page's key list is appended from `custodia config reference` (the table of docs/configuration.md,
# generated from src/node/config.c), so the man page and the configuration cannot drift.
set -eu
scdoc=$1 in=$2 out=$3 bin=${4:-}
tmp="$out.tmp"
trap 'rm -f "$tmp"' EXIT
if [ -n "$bin" ]; then
    {
        cat "$in"
        printf '\n# KEYS\n\n'
        "$bin" config reference | awk -F' [|] ' '
            /^\| `\[/ {
                for (i = 1; i <= NF; i++) {
                    gsub(/`/, "", $i); gsub(/^\| /, "", $i); gsub(/ \|$/, "", $i)
                    gsub(/\\/, "\\\\", $i); gsub(/\*/, "\\*", $i); gsub(/_/, "\\_", $i)
                }
                bounds = $4 == "" || $4 == " |" ? "" : "; " $4
                printf "*%s* (%s; default: %s%s)\n\t%s\n\n", $1, $2, $3, bounds, $5
            }'
    } | "$scdoc" >"$tmp"
else
    "$scdoc" <"$in" >"$tmp"
fi
mv "$tmp" "$out"
