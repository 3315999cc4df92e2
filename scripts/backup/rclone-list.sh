#!/bin/sh
# backup.list_command: prints the backups under <REMOTE>, one a line: "<backup id> <size>"
# (custodia skips other names, such as an upload's .part). A destination that does not exist
# yet holds no backups. See rclone-common.sh.
. "$(dirname "$0")/rclone-common.sh"
rc=0
"$RCLONE" lsf --files-only --format ps --separator ' ' "$remote" || rc=$?
# rclone's exit status 3: directory not found (a local or SFTP destination before its first
# backup); anything else is a failure
[ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] || exit "$rc"
