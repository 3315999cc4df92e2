# shellcheck shell=sh
# rclone-common.sh: what the rclone backup scripts share (sourced, not run).
#
# Each script takes the destination as its one argument, an rclone remote and path such as
# s3:custodia-backups/node-eu1 (the bucket and a prefix of this node's own), and the backup id
# from CUSTODIA_BACKUP_ID, which custodia sets. One object per backup: <REMOTE>/<backup id>.
#
# Credentials never go on a command line (custodia records its commands in the audit log's
# node.start entry, and every local user can read /proc/<pid>/cmdline): rclone reads them from
# its environment, which custodia's backup.command_env_file provides, e.g.
#   RCLONE_CONFIG=/etc/custodia/rclone.conf            (a 0600 file holding the remote), or
#   RCLONE_CONFIG_S3_TYPE=s3 and RCLONE_CONFIG_S3_SECRET_ACCESS_KEY=...  (the remote itself).
set -eu

remote=${1:?"usage: $(basename "$0") REMOTE (an rclone remote and path, e.g. s3:bucket/prefix)"}
remote=${remote%/}
RCLONE=${RCLONE:-rclone}

need_id() {
    case "${CUSTODIA_BACKUP_ID:-}" in
    bk_*) ;;
    *) echo "$(basename "$0"): CUSTODIA_BACKUP_ID is not a backup id" >&2; exit 2 ;;
    esac
}

# Whether the object <remote>/<id> exists: a failed listing is an error, not "absent" (on S3 a
# missing key is an empty listing, not an error, so a plain "rclone cat" would succeed on it).
exists() {
    found=$("$RCLONE" lsf --files-only --include "/$1" "$remote") || exit 1
    [ -n "$found" ]
}
