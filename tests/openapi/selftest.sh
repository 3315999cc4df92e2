#!/usr/bin/env bash
# selftest.sh: validate.mjs fails on each kind of drift and passes what matches (issue 13).
# Usage: selftest.sh SOURCE_DIR
set -uo pipefail
src=${1:?usage: selftest.sh SOURCE_DIR}
spec=$src/docs/openapi.yaml
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fails=0

# expect WANT_RC NAME LINE... : runs the validator over the lines; WANT_RC 1 needs the message.
expect() {
    local want=$1 name=$2 msg=$3
    shift 3
    printf '%s\n' "$@" >"$dir/$name.ndjson"
    node "$src/tests/openapi/validate.mjs" "$spec" "$dir/$name.ndjson" 2>"$dir/$name.err"
    local rc=$?
    if [ "$rc" -ne "$want" ] || ! grep -qF -- "$msg" "$dir/$name.err"; then
        echo "FAIL $name: exit $rc (want $want), output:"
        sed 's/^/    /' "$dir/$name.err"
        fails=$((fails + 1))
    else
        echo "ok   $name"
    fi
}

err='{"error":{"code":"not_found","message":"no such route","request_id":"r1"}}'
bucket='{"name":"b","retention_seconds":0,"class":"standard","record_count":0,"created_at":"2026-01-02T03:04:05.000000Z","updated_at":"2026-01-02T03:04:05.000000Z"}'
j='"content_type":"application/json","json_invalid":false'

expect 0 matches "responses of" \
    "{\"method\":\"POST\",\"path\":\"/v1/buckets\",\"status\":201,$j,\"bytes\":10,\"body\":$bucket}" \
    "{\"method\":\"GET\",\"path\":\"/v1/buckets/b?x=1\",\"status\":200,$j,\"bytes\":10,\"body\":$bucket}" \
    "{\"method\":\"GET\",\"path\":\"/v1/nothing\",\"status\":404,$j,\"bytes\":10,\"body\":$err}" \
    '{"method":"GET","path":"/v1/buckets/b/records/k","status":200,"content_type":"text/plain","json_invalid":false,"bytes":3}' \
    '{"method":"HEAD","path":"/v1/buckets/b/records/k","status":404,"content_type":"application/json","json_invalid":false,"bytes":0}' \
    '{"method":"DELETE","path":"/v1/buckets/b","status":204,"content_type":"","json_invalid":false,"bytes":0}'
expect 1 missing_field "must have required property 'class'" \
    "{\"method\":\"GET\",\"path\":\"/v1/buckets/b\",\"status\":200,$j,\"bytes\":10,\"body\":${bucket/\"class\":\"standard\",/}}"
expect 1 extra_field "must NOT have additional properties" \
    "{\"method\":\"GET\",\"path\":\"/v1/buckets/b\",\"status\":200,$j,\"bytes\":10,\"body\":${bucket/\{/\{\"colour\":1,}}"
expect 1 unlisted_status "does not list status 418" \
    "{\"method\":\"GET\",\"path\":\"/v1/buckets/b\",\"status\":418,$j,\"bytes\":10,\"body\":$err}"
expect 1 wrong_error_code "must be equal to constant" \
    "{\"method\":\"GET\",\"path\":\"/v1/buckets/b\",\"status\":404,$j,\"bytes\":10,\"body\":${err/not_found/conflict}}"
expect 1 unknown_route_answered "a route the description lacks" \
    "{\"method\":\"GET\",\"path\":\"/v1/secret\",\"status\":200,$j,\"bytes\":2,\"body\":{}}"
expect 1 unknown_method_answered "a route the description lacks" \
    "{\"method\":\"PUT\",\"path\":\"/v1/buckets\",\"status\":200,$j,\"bytes\":2,\"body\":{}}"
expect 1 wrong_content_type "is not one of application/json" \
    '{"method":"GET","path":"/v1/buckets","status":200,"content_type":"text/html","json_invalid":false,"bytes":5}'
expect 1 invalid_json "is not the JSON its Content-Type says" \
    '{"method":"GET","path":"/v1/buckets","status":200,"content_type":"application/json","json_invalid":true,"bytes":5}'
expect 1 body_on_204 "has no content in the description" \
    '{"method":"DELETE","path":"/v1/buckets/b","status":204,"content_type":"text/plain","json_invalid":false,"bytes":4}'
node "$src/tests/openapi/validate.mjs" "$spec" "$dir/none.ndjson" 2>/dev/null
[ $? -eq 2 ] && echo "ok   missing_log" || { echo "FAIL missing_log"; fails=$((fails + 1)); }

[ "$fails" -eq 0 ] && echo "validate.mjs self-test: all cases behave" || echo "validate.mjs self-test: $fails failed"
exit $((fails > 0))
