#!/usr/bin/env bash
# docs_links.sh: the README stays a first read (at most 160 lines), and every relative link in
# README.md and docs/*.md points to a file that exists and, with a #fragment, to a heading that
# exists in it (GitHub's heading anchors). Links inside fenced code blocks are not links.
set -euo pipefail
root=${1:?usage: docs_links.sh SOURCE_DIR}
cd "$root"
fail=0

max=160
lines=$(wc -l < README.md)
if [ "$lines" -gt "$max" ]; then
    echo "README.md has $lines lines; keep it at most $max (move detail to docs/)"
    fail=1
fi

# GitHub's anchor of each heading: lower case, punctuation other than '-' and '_' dropped,
# spaces to '-'; a repeated heading gets -1, -2, ...
anchors() {
    awk '/^```/ { code = !code; next }
         !code && /^#+ / { sub(/^#+ +/, ""); print }' "$1" |
        tr '[:upper:]' '[:lower:]' | sed -e 's/[^a-z0-9 _-]//g' -e 's/ /-/g' |
        awk '{ n = seen[$0]++; print (n ? $0 "-" n : $0) }'
}

# Every (target) of a markdown link [text](target) outside code blocks, one per line.
links() {
    awk '/^```/ { code = !code; next } !code' "$1" |
        grep -o '\]([^) ]*)' | sed -e 's/^](//' -e 's/)$//' || true
}

for doc in README.md docs/*.md; do
    dir=$(dirname "$doc")
    while IFS= read -r link; do
        case "$link" in
        http://* | https://* | mailto:*) continue ;;
        esac
        path=${link%%#*}
        frag=
        [ "$path" != "$link" ] && frag=${link#*#}
        target=$doc
        [ -n "$path" ] && target=$dir/$path
        if [ ! -e "$target" ]; then
            echo "$doc: link to $link: $target does not exist"
            fail=1
            continue
        fi
        if [ -n "$frag" ] && [ -f "$target" ] && ! anchors "$target" | grep -qxF -- "$frag"; then
            echo "$doc: link to $link: no heading with anchor #$frag in $target"
            fail=1
        fi
    done < <(links "$doc")
done

[ "$fail" -eq 0 ] && echo "docs: README.md $lines lines; every relative link resolves"
exit "$fail"
