#!/usr/bin/env bash
# Proves tests/layers.sh can fail: on a scratch copy of src/ and the allowlist, each planted
# violation (include upward, include a sibling, SQLite or libpq outside its driver, SQL or a database
# file name in a string literal outside the driver, a stale allowlist line, an allowlisted
# include removed) must make the check exit 1 with its message; the
# untouched copy and the copy after --update must pass.
#   tests/layers_selftest.sh [ROOT]
set -u -o pipefail
root="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
work="$(mktemp -d "${TMPDIR:-/tmp}/cst-layers.XXXXXX")" || exit 2
trap 'rm -rf "$work"' EXIT
failures=0

fresh() { # a pristine copy of the tree the check reads
    rm -rf "$work/t" && mkdir -p "$work/t/tests" &&
        cp -R "$root/src" "$work/t/src" &&
        cp "$root/tests/layers.sh" "$work/t/tests/" &&
        cp "$root/tests/layers.allow" "$work/t/tests/"
}

# expect NAME RC PATTERN: run the check on the copy, want exit RC and a line matching PATTERN
expect() {
    local name="$1" want="$2" pattern="$3" out rc
    out="$(bash "$work/t/tests/layers.sh" "$work/t" 2>&1)"
    rc=$?
    if [ "$rc" -ne "$want" ] || ! grep -qF -- "$pattern" <<<"$out"; then
        echo "FAIL $name: exit $rc (want $want), output:"
        printf '    %s\n' "${out//$'\n'/$'\n'    }"
        failures=$((failures + 1))
    else
        echo "ok   $name"
    fi
}

fresh && expect "tree as committed passes" 0 "no new ones"

fresh && echo '#include "api/api.h"' >>"$work/t/src/util/util.c"
expect "util includes api (upward)" 1 "src/util/util.c: includes api/api.h (layer api above layer util)"

fresh && echo '#include "backup/backup.h"' >>"$work/t/src/http/router.c"
expect "http includes backup (sibling)" 1 \
    "src/http/router.c: includes backup/backup.h (layer backup beside layer http: siblings)"

fresh && echo '  #  include "cli/cli.h" /* indented, spaced */' >>"$work/t/src/store/sqlite/system.c"
expect "store includes cli (spaced directive)" 1 \
    "src/store/sqlite/system.c: includes cli/cli.h (layer cli above layer store)"

fresh && echo '#include <sqlite3.h>' >>"$work/t/src/audit/audit.c"
expect "SQLite in audit" 1 "src/audit/audit.c: includes <sqlite3.h> (SQLite outside src/store/sqlite/)"

fresh && mkdir -p "$work/t/src/store/sqlite" &&
    printf '#include <sqlite3.h>\n#include "store/store.h"\nstatic const char *q = "SELECT v FROM meta"; /* x.db */\n' >"$work/t/src/store/sqlite/driver.c"
expect "SQLite in src/store/sqlite/ is fine" 0 "no new ones"

fresh && printf 'static const char *q = "INSERT OR IGNORE INTO tombstones VALUES(?, ?)";\n' >>"$work/t/src/backup/backup.c"
expect "SQL in a string outside the driver" 1 "src/backup/backup.c:$(wc -l <"$work/t/src/backup/backup.c"): SQL outside the storage drivers"

fresh && printf 'static const char *w = "%%s/system.db-wal";\n' >>"$work/t/src/lifecycle/erase.c"
expect "a database file named outside the driver" 1 \
    "src/lifecycle/erase.c:$(wc -l <"$work/t/src/lifecycle/erase.c"): names a database file outside the storage drivers"

fresh && printf 'static const char c = \x27"\x27, *t = "%%s/tenants/%%s.db", e = \x27"\x27;\n' >>"$work/t/src/node/node.c"
expect "a database file after a character literal" 1 \
    "src/node/node.c:$(wc -l <"$work/t/src/node/node.c"): names a database file outside the storage drivers (src/store/sqlite/, src/store/postgres/): \"%s/tenants/%s.db\""

fresh && printf '/* system.db: a comment may explain the driver */\nstatic const char m = \x27"\x27;\nstatic const char *d = "DELETE";\n' >>"$work/t/src/api/routes.c"
expect "comments, character literals and an HTTP DELETE are no SQL" 0 "no new ones"

fresh && echo '#include <libpq-fe.h>' >>"$work/t/src/store/sqlite/db.c"
expect "libpq outside its driver" 1 "src/store/sqlite/db.c: includes <libpq-fe.h> (libpq outside src/store/postgres/)"

fresh && mkdir -p "$work/t/src/store/postgres" &&
    printf '#include <libpq-fe.h>\n#include "store/postgres/pool.h"\nstatic const char *q = "SELECT v FROM custodia_system.meta";\n' >"$work/t/src/store/postgres/driver.c"
expect "libpq and SQL in src/store/postgres/ are fine" 0 "no new ones"

fresh && echo '#include "store/postgres/pool.h"' >>"$work/t/src/store/store.c"
expect "the PostgreSQL driver's header outside its driver" 1 \
    "src/store/store.c: includes store/postgres/pool.h (the PostgreSQL driver's own header outside src/store/postgres/)"

fresh && echo '#include "store/sqlite/db.h"' >>"$work/t/src/backup/backup.c"
expect "the driver's header outside the driver" 1 \
    "src/backup/backup.c: includes store/sqlite/db.h (the SQLite driver's own header outside src/store/sqlite/)"

fresh && mkdir -p "$work/t/src/web" && echo '#include "util/util.h"' >"$work/t/src/web/x.c"
expect "a folder outside the layer order" 1 "src/web/x.c: not in a known layer"

fresh && echo 'src/util/buf.c api/api.h' >>"$work/t/tests/layers.allow"
expect "stale allowlist line" 1 "stale entry 'src/util/buf.c api/api.h'"

# an allowlisted violation fixed in the code without removing its line: the ratchet must notice
# (planted and allowlisted here, so the case does not depend on which violations are left)
fresh && echo '#include "api/api.h"' >>"$work/t/src/util/buf.c" &&
    bash "$work/t/tests/layers.sh" --update "$work/t" >/dev/null &&
    sed -i '/#include "api\/api.h"/d' "$work/t/src/util/buf.c"
expect "fixed violation left in the allowlist" 1 "stale entry 'src/util/buf.c api/api.h'"

# (a planted, allowlisted violation: the real allowlist may hold none)
fresh && echo '#include "api/api.h"' >>"$work/t/src/util/buf.c" &&
    bash "$work/t/tests/layers.sh" --update "$work/t" >/dev/null &&
    echo 'src/util/buf.c api/api.h' >>"$work/t/tests/layers.allow"
expect "duplicate allowlist line" 1 "duplicate entry"

fresh && echo '#include "api/api.h"' >>"$work/t/src/util/util.c" &&
    bash "$work/t/tests/layers.sh" --update "$work/t" >/dev/null
expect "after --update the new state passes" 0 "no new ones"
grep -qx 'src/util/util.c api/api.h' "$work/t/tests/layers.allow" ||
    {
        echo "FAIL --update did not record src/util/util.c api/api.h"
        failures=$((failures + 1))
    }

[ "$failures" -eq 0 ] || {
    echo "layers self-test: $failures failure(s)"
    exit 1
}
echo "layers self-test: all cases behave"
