#!/usr/bin/env bash
# schema.sh: the OSCAL rendering of the report (EVD-1, src/report/oscal.c) validates against
# NIST's assessment-results schema (report.oscal_schema). The sample report's rendering and a
# real node's must pass; deliberately broken copies must fail with the expected error, so the
# check cannot pass vacuously; and the schema must be NIST's file unchanged (README.md's SHA-256).
# Usage: schema.sh SOURCE_DIR TEST_REPORT_OSCAL_BIN CUSTODIA_BIN
set -uo pipefail
src=${1:?usage: schema.sh SOURCE_DIR TEST_REPORT_OSCAL_BIN CUSTODIA_BIN}
unit=${2:?usage}
custodia=${3:?usage}
here=$src/tests/oscal
schema=$here/oscal_assessment-results_schema.json
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fails=0
bad() {
    echo "FAIL $*"
    fails=$((fails + 1))
}
validate() { node "$here/validate.mjs" "$schema" "$@"; }

want=$(grep -o 'SHA-256: [0-9a-f]\{64\}' "$here/README.md" | cut -d' ' -f2)
got=$(sha256sum "$schema" | cut -d' ' -f1)
[ -n "$want" ] && [ "$want" = "$got" ] && echo "ok   schema is NIST's file ($got)" ||
    bad "schema SHA-256 $got, README.md says ${want:-nothing}"

# The sample report (all four statuses, facts of every JSON type) renders to a valid document.
"$unit" --write "$dir/sample.json" || bad "cannot render the sample report"
validate "$dir/sample.json" || bad "the sample's rendering does not validate"

# broken NAME MESSAGE JQ_FILTER: a copy of the sample changed by the filter must fail with MESSAGE.
broken() {
    local name=$1 msg=$2 filter=$3
    jq ".\"assessment-results\" |= ($filter)" "$dir/sample.json" >"$dir/$name.json" || {
        bad "$name: jq"
        return
    }
    validate "$dir/$name.json" >"$dir/$name.out" 2>&1
    local rc=$?
    if [ "$rc" -eq 1 ] && grep -qF -- "$msg" "$dir/$name.out"; then
        echo "ok   $name fails as it must"
    else
        bad "$name: exit $rc (want 1 with \"$msg\"):"
        sed 's/^/    /' "$dir/$name.out"
    fi
}
broken finding_without_target "must have required property 'target'" \
    'del(.results[0].findings[0].target)'
broken observation_bad_uuid "/observations/0/uuid must match pattern" \
    '.results[0].observations[0].uuid = "not-a-uuid"'
broken unknown_state "must be equal to one of the allowed values" \
    '.results[0].findings[2].target.status.state = "partly"'
broken control_id_not_token "/control-id must match pattern" \
    '.results[0]."reviewed-controls"."control-selections"[0]."include-controls"[0]."control-id" = "1 ENC"'
broken no_import_ap "must have required property 'import-ap'" 'del(."import-ap")'
broken unknown_member "must NOT have additional properties" '.results[0].verdict = "pass"'
broken impossible_date "/last-modified must match format" \
    '.metadata."last-modified" = "2026-02-30T10:00:00Z"'

# A real node's report: init, report (signed JSON), render its "report" member, validate, and
# check the rendering against the report: a finding per control, satisfied exactly for pass.
if "$custodia" init --data-dir "$dir/var" --json >"$dir/init.json" 2>"$dir/init.err" &&
    "$custodia" report --data-dir "$dir/var" --out "$dir/signed.json" 2>"$dir/report.err"; then
    "$unit" --from "$dir/signed.json" --write "$dir/real.json" || bad "cannot render the real report"
    validate "$dir/real.json" || bad "the real report's rendering does not validate"
    n=$(jq '.report.controls | length' "$dir/signed.json")
    pass=$(jq '[.report.controls[] | select(.status == "pass")] | length' "$dir/signed.json")
    f=$(jq '.["assessment-results"].results[0].findings | length' "$dir/real.json")
    sat=$(jq '[.["assessment-results"].results[0].findings[] |
               select(.target.status.state == "satisfied")] | length' "$dir/real.json")
    [ "$n" -gt 0 ] && [ "$f" = "$n" ] && [ "$sat" = "$pass" ] &&
        echo "ok   real report: $n controls, $f findings, $sat satisfied ($pass pass)" ||
        bad "real report: $n controls, $f findings, $sat satisfied, $pass pass"
else
    bad "custodia init/report failed:"
    cat "$dir/init.err" "$dir/report.err" | sed 's/^/    /'
fi

[ "$fails" -eq 0 ] && echo "report.oscal_schema: all checks pass" || echo "report.oscal_schema: $fails failed"
exit $((fails > 0))
