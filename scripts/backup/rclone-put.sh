#!/bin/sh
# backup.command: stores the backup read on standard input as <REMOTE>/<CUSTODIA_BACKUP_ID>.
# It uploads under <id>.part and renames when the upload is complete, so that no listing (and no
# restore) ever sees a partial backup; a failed upload removes its part. See rclone-common.sh.
. "$(dirname "$0")/rclone-common.sh"
need_id
id=$CUSTODIA_BACKUP_ID
if ! "$RCLONE" rcat "$remote/$id.part"; then
    "$RCLONE" deletefile "$remote/$id.part" >/dev/null 2>&1 || true
    exit 1
fi
"$RCLONE" moveto "$remote/$id.part" "$remote/$id"
