#!/bin/sh
# backup.prune_command: removes <REMOTE>/<CUSTODIA_BACKUP_ID>, past backup.retention_days.
# A backup already gone counts as removed; a failed listing does not. See rclone-common.sh.
. "$(dirname "$0")/rclone-common.sh"
need_id
if exists "$CUSTODIA_BACKUP_ID"; then
    "$RCLONE" deletefile "$remote/$CUSTODIA_BACKUP_ID"
fi
