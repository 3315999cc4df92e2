#!/usr/bin/env bash
# The layer check (issue 13, item 6): a file includes only headers of its own layer and the
# layers below, and the databases appear only in their storage drivers: outside src/store/sqlite/
# no file includes <sqlite3.h>, outside src/store/postgres/ none includes <libpq-fe.h> (issue 20),
# and outside the two no file holds SQL in a string literal or names a database file in one. A ratchet: today's violations are
# listed in tests/layers.allow; a new violation fails, and so does an allowlist line that no
# longer occurs (stale), so the list can only shrink until issue 13 empties it.
#
#   tests/layers.sh [--update] [ROOT]
#
# ROOT is the repository (default: the parent of this script); it reads ROOT/src/**/*.[ch] and
# ROOT/tests/layers.allow. Exit 0: clean; exit 1: violations or stale entries (each printed);
# exit 2: usage or a file that cannot be read. --update rewrites the allowlist from the current
# tree (for the lead after merging moves) and exits 0.
#
# Layer order, top to bottom (rank: a file may include ranks >= its own, never a sibling):
#   0 cli        commands (main, serve, backup, operator, cert)
#   1 api        HTTP handlers: parse, call core, render
#   2 report     the compliance report (EVD-1): reads the evidence of every layer below
#   3 http | lifecycle | backup
#                one level of siblings: they must not include each other
#   4 node       the running node's composition: configuration, open stores, keys, throttles.
#                Its own level just BELOW http/lifecycle/backup, not above them: lifecycle.h,
#                backup.h, backup/internal.h and api.h all take the node struct (struct cst_node)
#                as their context, so node is what those layers stand on, and node itself only
#                needs core and below (its includes of http/json.h, http/netacl.h and
#                api/api.h are the helpers and domain code issue 13 moves down to util/ and core/).
#   5 core       the domain (issue 13 creates it)
#   6 audit
#   7 store      driver interface; src/store/sqlite/ is the only place for <sqlite3.h>,
#                src/store/postgres/ the only one for <libpq-fe.h>
#   8 crypto
#   9 util
set -u -o pipefail

usage() {
    echo "usage: $0 [--update] [ROOT]" >&2
    exit 2
}

update=0
root=""
for arg in "$@"; do
    case "$arg" in
    --update) update=1 ;;
    -*) usage ;;
    *)
        [ -z "$root" ] || usage
        root="$arg"
        ;;
    esac
done
[ -n "$root" ] || root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
allow="$root/tests/layers.allow"
[ -d "$root/src" ] || {
    echo "layers: no src/ under $root" >&2
    exit 2
}

declare -A rank=([cli]=0 [api]=1 [report]=2 [http]=3 [lifecycle]=3 [backup]=3 [node]=4 [core]=5
    [audit]=6 [store]=7 [crypto]=8 [util]=9)

declare -A found=()  # "file include" -> message, every violation in the tree

# Storage stays behind the driver interface (issue 13, item 2). Read in string literals only
# (comments may explain the driver), uppercase SQL as the driver writes it: a statement's
# shape, not a lone word (an HTTP "DELETE" is no SQL); a database file is a name ending in
# .db or one of SQLite's files beside it (-wal, -shm, -journal).
sql_re='\bSELECT\b.*\bFROM\b|\bINSERT (OR [A-Z]+ )?INTO\b|\bUPDATE [A-Za-z_.]+ SET\b|\bDELETE FROM\b'
sql_re+='|\b(CREATE|DROP|ALTER) (TABLE|INDEX|VIEW|TRIGGER)\b|\bPRAGMA [a-z_]+|\b(ATTACH|DETACH) DATABASE\b'
sql_re+='|\bBEGIN (IMMEDIATE|EXCLUSIVE|DEFERRED|TRANSACTION)\b|\bSAVEPOINT [A-Za-z_]+|\bROLLBACK TO\b'
sql_re+='|:[0-9]+:"(COMMIT|ROLLBACK|BEGIN|END)"$'
dbfile_re='(\.db|-wal|-shm|-journal)([^A-Za-z0-9_]|$)'

# string_literals FILE...: "file:line:literal" for each string literal, in one pass (includes
# and character literals blanked first, so '"' opens none).
string_literals() {
    awk '{
        if ($0 ~ /^[ \t]*#[ \t]*include/) next
        line = $0
        gsub(/\x27(\\.|[^\x27\\])\x27/, "", line)
        while (match(line, /"([^"\\]|\\.)*"/)) {
            print FILENAME ":" FNR ":" substr(line, RSTART, RLENGTH)
            line = substr(line, RSTART + RLENGTH)
        }
    }' "$@"
}
declare -a unknown=() # files or includes outside any known layer: always fatal

cd "$root" || exit 2
mapfile -t files < <(find src -type f \( -name '*.c' -o -name '*.h' \) | LC_ALL=C sort)
[ "${#files[@]}" -gt 0 ] || {
    echo "layers: no sources under $root/src" >&2
    exit 2
}

for f in "${files[@]}"; do
    [ -r "$f" ] || {
        echo "layers: cannot read $f" >&2
        exit 2
    }
    rel="${f#src/}"
    layer="${rel%%/*}"
    if [ "$layer" = "$rel" ] || [ -z "${rank[$layer]+x}" ]; then
        unknown+=("$f: not in a known layer (src/<layer>/; see the order in tests/layers.sh)")
        continue
    fi
    # Every #include line, quoted or angled (conditional ones too: a layer is not optional).
    while IFS= read -r inc; do
        case "$inc" in
        '<sqlite3.h>' | '"sqlite3.h"')
            case "$f" in
            src/store/sqlite/*) ;;
            *) found["$f <sqlite3.h>"]="$f: includes <sqlite3.h> (SQLite outside src/store/sqlite/)" ;;
            esac
            ;;
        '<libpq-fe.h>' | '"libpq-fe.h"')
            case "$f" in
            src/store/postgres/*) ;;
            *) found["$f <libpq-fe.h>"]="$f: includes <libpq-fe.h> (libpq outside src/store/postgres/)" ;;
            esac
            ;;
        \"*/*\")
            hdr="${inc#\"}"
            hdr="${hdr%\"}"
            to="${hdr%%/*}"
            case "$hdr:$f" in
            store/sqlite/*:src/store/sqlite/*) ;;
            store/sqlite/*) found["$f $hdr"]="$f: includes $hdr (the SQLite driver's own header outside src/store/sqlite/)" ;;
            store/postgres/*:src/store/postgres/*) ;;
            store/postgres/*) found["$f $hdr"]="$f: includes $hdr (the PostgreSQL driver's own header outside src/store/postgres/)" ;;
            *) ;;
            esac
            if [ -z "${rank[$to]+x}" ]; then
                unknown+=("$f: includes $hdr (no layer named $to)")
            elif [ "$to" != "$layer" ]; then
                if [ "${rank[$to]}" -lt "${rank[$layer]}" ]; then
                    found["$f $hdr"]="$f: includes $hdr (layer $to above layer $layer)"
                elif [ "${rank[$to]}" -eq "${rank[$layer]}" ]; then
                    found["$f $hdr"]="$f: includes $hdr (layer $to beside layer $layer: siblings)"
                fi
            fi
            ;;
        \"*\")
            unknown+=("$f: includes $inc (write project headers as \"layer/file.h\")")
            ;;
        *) ;; # system and library headers
        esac
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*\([<"][^>"]*[>"]\).*/\1/p' "$f")
done

# SQL and database files in string literals outside the drivers: the first of each kind per file.
mapfile -t outside < <(printf '%s\n' "${files[@]}" | grep -Ev '^src/store/(sqlite|postgres)/')
while IFS= read -r kind && IFS= read -r hit; do
    f="${hit%%:*}"
    [ -n "${found[$f <$kind>]+x}" ] && continue
    rest="${hit#*:}"
    if [ "$kind" = sql ]; then
        found["$f <sql>"]="$f:${rest%%:*}: SQL outside the storage drivers (src/store/sqlite/, src/store/postgres/): ${rest#*:}"
    else
        found["$f <dbfile>"]="$f:${rest%%:*}: names a database file outside the storage drivers (src/store/sqlite/, src/store/postgres/): ${rest#*:}"
    fi
done < <(
    lits="$(string_literals "${outside[@]}")"
    grep -E "$sql_re" <<<"$lits" | sed 's/^/sql\n/'
    grep -E "$dbfile_re" <<<"$lits" | sed 's/^/dbfile\n/'
)

if [ "${#unknown[@]}" -gt 0 ]; then
    printf '%s\n' "${unknown[@]}"
    echo "layers: ${#unknown[@]} file(s) or include(s) outside the layer order" >&2
    exit 1
fi

if [ "$update" -eq 1 ]; then
    tmp="$allow.tmp.$$"
    {
        echo "# Layer check allowlist (tests/layers.sh): \"file include\" pairs that break the layer"
        echo "# order or include <sqlite3.h> outside src/store/sqlite/ TODAY. This list only shrinks:"
        echo "# a new violation fails the check, and so does a line here that no longer occurs."
        echo "# Issue 13 empties it. Regenerate after a move with: tests/layers.sh --update"
        if [ "${#found[@]}" -gt 0 ]; then
            printf '%s\n' "${!found[@]}" | LC_ALL=C sort
        fi
    } >"$tmp"
    if ! mv "$tmp" "$allow"; then
        rm -f "$tmp"
        echo "layers: cannot write $allow" >&2
        exit 2
    fi
    echo "layers: wrote ${#found[@]} entries to $allow"
    exit 0
fi

declare -A allowed=()
bad=0
if [ -e "$allow" ]; then
    [ -r "$allow" ] || {
        echo "layers: cannot read $allow" >&2
        exit 2
    }
    n=0
    while IFS= read -r line || [ -n "$line" ]; do
        n=$((n + 1))
        case "$line" in '' | '#'*) continue ;; esac
        # exactly two fields: file and include
        read -r a b c <<<"$line"
        if [ -z "${b:-}" ] || [ -n "${c:-}" ]; then
            echo "tests/layers.allow:$n: malformed line '$line' (want: file include)"
            bad=$((bad + 1))
            continue
        fi
        key="$a $b"
        if [ -n "${allowed[$key]+x}" ]; then
            echo "tests/layers.allow:$n: duplicate entry '$key'"
            bad=$((bad + 1))
        elif [ -z "${found[$key]+x}" ]; then
            echo "tests/layers.allow:$n: stale entry '$key' (no longer a violation: remove the line)"
            bad=$((bad + 1))
        fi
        allowed["$key"]=1
    done <"$allow"
fi

mapfile -t keys < <(printf '%s\n' "${!found[@]}" | LC_ALL=C sort)
for key in "${keys[@]}"; do
    [ -n "$key" ] || continue
    if [ -z "${allowed[$key]+x}" ]; then
        echo "${found[$key]}"
        bad=$((bad + 1))
    fi
done

if [ "$bad" -gt 0 ]; then
    echo "layers: $bad problem(s); the order is in tests/layers.sh, docs/architecture.md explains it" >&2
    exit 1
fi
echo "layers: ${#files[@]} files, ${#found[@]} allowlisted violation(s) left, no new ones"
exit 0
