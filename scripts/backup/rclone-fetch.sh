#!/bin/sh
# backup.fetch_command: writes <REMOTE>/<CUSTODIA_BACKUP_ID> to standard output (drills,
# custodia backup verify ID, custodia backup restore --from ID). See rclone-common.sh.
. "$(dirname "$0")/rclone-common.sh"
need_id
if ! exists "$CUSTODIA_BACKUP_ID"; then
    echo "rclone-fetch.sh: $remote/$CUSTODIA_BACKUP_ID does not exist" >&2
    exit 1
fi
exec "$RCLONE" cat "$remote/$CUSTODIA_BACKUP_ID"
