/* sandbox.h: least privilege inside the serving process (issue 19): the drop from root to
 * node.user, Landlock (files) and a seccomp allow-list (system calls). */
#ifndef CST_SANDBOX_H
#define CST_SANDBOX_H

#include <stdbool.h>
#include <sys/types.h>

#include "node/config.h"
#include "util/err.h"

struct json_t;

/* After the keys are read, the certificate loaded and the system store opened, before the audit
 * log is opened (its files are the user's), the listener is bound and the HTTP, webhook and
 * background threads start (so no request is ever served outside it):
 * resolves node.user and refuses data, audit, backup and scratch dirs it could not write
 * (naming the chown that fixes it); sets no_new_privs and restricts every thread's file
 * access with Landlock; drops from root to node.user (setgroups, setgid, setuid, then checks
 * that root cannot be regained; only CAP_NET_BIND_SERVICE is kept, and only for a port below
 * 1024); installs the seccomp allow-list on every thread. What it allows: docs/security.md. */
CST_MUST_USE cst_err cst_sandbox_enter(const cst_config *cfg);
/* A key file custodia reads as root before the drop may belong to root or to node.user. */
bool cst_sandbox_owner_ok(const cst_config *cfg, uid_t uid);
/* What this process reached: {"user", "uid", "landlock", "seccomp", "no_new_privs"} (a new
 * reference); {"landlock": "not serving", ...} in a process that never entered one. */
struct json_t *cst_sandbox_status(void);

#endif
