#!/usr/bin/env bash
# report_html_chromium.sh: the compliance report's HTML page (src/report/html.c) in a real
# browser. Headless Chromium opens the sample page of unit.test_report_html from a file (nothing
# else to fetch): its screenshot is not blank and shows each status badge's colour, and its DOM
# has one row per control and no script element, while the hostile strings are there as text.
# Then a live node's report (custodia init, custodia report --format html): every one of the
# catalogue's 37 controls is a row of the rendered page, and its screenshot is not blank.
# Usage: report_html_chromium.sh PATH/TO/test_report_html PATH/TO/custodia
set -euo pipefail

bin=${1:?usage: report_html_chromium.sh PATH/TO/test_report_html PATH/TO/custodia}
custodia=${2:?usage: report_html_chromium.sh PATH/TO/test_report_html PATH/TO/custodia}
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
command -v chromium >/dev/null ||
    fail "chromium is not installed: scripts/install-deps.sh installs the Debian package chromium"
command -v python3 >/dev/null || fail "python3 is not installed"

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/home"

# One Chromium run with its own profile and home in the scratch dir; timeout ends the process
# group it started (Chromium's helpers included) if a run hangs.
browse() {
    HOME="$dir/home" XDG_CONFIG_HOME="$dir/home" XDG_CACHE_HOME="$dir/home" \
        timeout -k 5 25 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --user-data-dir="$dir/profile" --no-first-run --disable-extensions \
        --disable-background-networking --disable-component-update --window-size=1280,2000 \
        "$@" 2>>"$dir/chromium.log" || {
        tail -20 "$dir/chromium.log" >&2
        fail "chromium $* exited with an error"
    }
}

out=$("$bin" --write "$dir/report.html") || fail "$bin --write did not write the sample page"
controls=${out#controls: }
[[ "$controls" =~ ^[0-9]+$ && "$controls" -gt 0 ]] || fail "unexpected output from $bin: $out"
printf '<!DOCTYPE html>\n<html><head><title>blank</title></head><body></body></html>\n' \
    >"$dir/blank.html"

browse --screenshot="$dir/report.png" "file://$dir/report.html" >/dev/null
browse --screenshot="$dir/blank.png" "file://$dir/blank.html" >/dev/null
browse --dump-dom "file://$dir/report.html" >"$dir/dom.html"
for f in report.png blank.png; do
    [ -s "$dir/$f" ] || fail "chromium wrote no screenshot $f"
done

python3 - "$dir" "$controls" <<'EOF'
import html.parser, re, struct, sys, zlib

d, controls = sys.argv[1], int(sys.argv[2])

def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)

def pixels(path):
    """The RGB pixels of an 8-bit RGB or RGBA PNG, its scanline filters undone."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(path + " is not a PNG")
    pos, idat, hdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = hdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        fail("%s: unexpected PNG format (depth %d, colour type %d)" % (path, depth, ctype))
    bpp = 3 if ctype == 2 else 4
    raw, stride = zlib.decompress(idat), w * bpp
    prev, out = bytearray(stride), []
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out.extend(bytes(line[i:i + 3]) for i in range(0, stride, bpp))
        prev = line
    return w, h, out

def colours(path):
    w, h, px = pixels(path)
    if (w, h) != (1280, 2000):
        fail("%s is %dx%d, not the 1280x2000 window" % (path, w, h))
    hist = {}
    for p in px:
        hist[p] = hist.get(p, 0) + 1
    return hist, len(px)

# The blank page's screenshot is one colour: the check below would call it blank.
blank, _ = colours(d + "/blank.png")
if len(blank) != 1:
    fail("the blank page's screenshot has %d colours" % len(blank))

hist, total = colours(d + "/report.png")
background, most = max(hist.items(), key=lambda kv: kv[1])
if len(hist) < 16 or total - most < total // 100:
    fail("the report's screenshot is blank: %d colours, %d of %d pixels differ from the "
         "background" % (len(hist), total - most, total))

# Every status badge is painted in its colour (taken from the page's own CSS).
page = open(d + "/report.html", encoding="utf-8").read()
for css in ("pass", "warn", "fail", "not-implemented"):
    m = re.search(r"\.badge\.%s\{color:#[0-9a-f]{6};background:#([0-9a-f]{6})\}" % css, page)
    if not m:
        fail("the page has no badge colour for " + css)
    rgb = bytes.fromhex(m.group(1))
    n = sum(k for p, k in hist.items() if all(abs(p[i] - rgb[i]) <= 6 for i in range(3)))
    if n < 100:
        fail("the screenshot shows %d pixels of the %s badge's colour #%s" % (n, css, m.group(1)))

class Dom(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.scripts, self.text = [], 0, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and a.get("class") == "control":
            self.rows.append(a.get("id"))
        if tag in ("script", "iframe", "img", "object", "embed", "link"):
            self.scripts += 1

    def handle_data(self, data):
        self.text.append(data)

dom = Dom()
dom.feed(open(d + "/dom.html", encoding="utf-8").read())
if len(dom.rows) != controls:
    fail("the DOM has %d control rows, the report %d controls" % (len(dom.rows), controls))
if dom.scripts:
    fail("the DOM has %d script, frame, image or link elements" % dom.scripts)
text = "".join(dom.text)
for s in ("<script>alert(1)</script>", "\"'&", "NOT IMPLEMENTED", "custodia report verify FILE"):
    if s not in text:
        fail("the page's text lacks " + s)
print("ok: %d control rows; screenshot of %d colours, %d%% of it drawn; each badge's colour shown"
      % (len(dom.rows), len(hist), 100 * (total - most) // total))
EOF

# A live node's page: a fresh data dir, its report as HTML, opened the same way.
mkdir -p "$dir/node"
"$custodia" init --data-dir "$dir/node/var" --json >/dev/null || fail "custodia init failed"
"$custodia" report --data-dir "$dir/node/var" --format html --out "$dir/live.html" ||
    fail "custodia report --format html failed"
browse --screenshot="$dir/live.png" "file://$dir/live.html" >/dev/null
browse --dump-dom "file://$dir/live.html" >"$dir/live-dom.html"
rows=$(grep -o '<tr class="control"' "$dir/live-dom.html" | wc -l)
[ "$rows" -eq 37 ] || fail "the live report's page has $rows control rows, not 37"
size=$(stat -c %s "$dir/live.png")
blank=$(stat -c %s "$dir/blank.png")
[ "$size" -gt $((blank * 4)) ] ||
    fail "the live report's screenshot ($size bytes) is no bigger than a blank page's ($blank)"
echo "ok: the live report's page has 37 control rows (screenshot $size bytes, blank $blank)"
