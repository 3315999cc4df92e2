/* backups.c: /v1/sys/backups: take, list, verify backups and run recovery drills (BAK-1..4). */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "backup/backup.h"
#include "store/store.h"
#include "util/util.h"

cst_err cst_api_sys_backup_create(cst_node *n, cst_request *req)
{
    cst_backup_row row;
    /* The catalogue row of a failed backup is its evidence: it commits at once (outside the
     * request's unit of work) rather than being rolled back with the failed request. */
    cst_err e = cst_backup_create(n, "api", NULL, &row);
    if (row.id[0])
        cst_audit_info(req, "backup_id", json_string(row.id));
    TRY(e);
    cst_audit_info(req, "size", json_integer((json_int_t)row.size));
    cst_audit_info(req, "tenants", json_integer((json_int_t)row.tenants));
    cst_audit_info(req, "records", json_integer((json_int_t)row.records));
    return cst_resp_json(req, 201, cst_backup_row_json(&row));
}

static cst_err list_backup(const cst_backup_row *b, void *p)
{
    json_array_append_new(p, cst_backup_row_json(b));
    return CST_OK;
}

static cst_err list_drill(const cst_drill_row *d, void *p)
{
    json_array_append_new(p, cst_drill_row_json(d));
    return CST_OK;
}

cst_err cst_api_sys_backup_list(cst_node *n, cst_request *req)
{
    int limit;
    TRY(cst_api_query_limit(req, &limit));
    json_t *backups = json_array(), *drills = json_array();
    cst_err e = cst_store_backup_list(n->store, req->work, limit, list_backup, backups);
    if (e == CST_OK)
        e = cst_store_drill_list(n->store, req->work, limit, list_drill, drills);
    if (e != CST_OK) {
        json_decref(backups);
        json_decref(drills);
        return e;
    }
    const cst_config *c = &n->cfg;
    json_t *sched = json_pack(
        "{s:I,s:i,s:s,s:s}", "interval_seconds", (json_int_t)c->backup_interval, "retention_days",
        c->backup_retention_days, "destination", c->backup_command[0] ? "command" : c->backup_dir,
        "region", c->backup_region[0] ? c->backup_region : n->region);
    return cst_resp_json(req, 200,
                         json_pack("{s:o,s:o,s:o,s:o}", "backups", backups, "drills", drills,
                                   "schedule", sched, "health", cst_backup_health(n)));
}

cst_err cst_api_sys_backup_verify(cst_node *n, cst_request *req)
{
    const char *id = req->params[0];
    ENSURE(cst_id_valid(id, "bk"), CST_ERR_NOT_FOUND, "no such backup");
    cst_backup_row b;
    cst_err e = cst_store_backup_get(n->store, req->work, id, &b);
    ENSURE(e != CST_ERR_NOT_FOUND, CST_ERR_NOT_FOUND, "no such backup");
    TRY(e);
    ENSURE(strcmp(b.status, "ok") == 0, CST_ERR_CONFLICT, "backup %s is %s: nothing to verify", id,
           b.status);
    /* a backup sent to backup.command is read back with backup.fetch_command into scratch
     * space, verified there and removed */
    bool remote = strncmp(b.location, "command:", 8) == 0;
    ENSURE(!remote || n->cfg.backup_fetch_command[0], CST_ERR_CONFLICT,
           "backup %s went to backup.command and backup.fetch_command is not set to read it "
           "back: verify it where it is stored with custodia backup verify",
           id);
    char path[PATH_MAX], fetched[PATH_MAX] = "";
    cst_bk_dest d = {.cfg = &n->cfg, .node_id = n->node_id, .region = n->region};
    e = remote ? cst_backup_fetch_scratch(&d, id, n->cfg.backup_scratch_dir, path, sizeof(path),
                                          fetched, sizeof(fetched))
               : cst_fmt(path, sizeof(path), "%s", b.location);
    if (remote)
        cst_audit_info(req, "fetched", json_true());
    json_t *report = NULL;
    if (e == CST_OK)
        e = cst_backup_verify_file(path, &n->root_key, n->public_key, n->region,
                                   n->cfg.backup_scratch_dir, &report);
    cst_backup_fetched_free(fetched);
    if (e != CST_OK) {
        /* The request worked; the backup did not pass. */
        char msg[512];
        (void)snprintf(msg, sizeof(msg), "%s", cst_err_message(e));
        cst_err_clear();
        cst_audit_info(req, "result", json_string("failed"));
        return cst_resp_json(
            req, 200,
            json_pack("{s:s,s:s,s:s}", "backup_id", id, "result", "failed", "error", msg));
    }
    cst_audit_info(req, "result", json_string("ok"));
    return cst_resp_json(req, 200, report);
}

cst_err cst_api_sys_backup_drill(cst_node *n, cst_request *req)
{
    cst_drill_row d;
    cst_err e = cst_backup_drill(n, &d);
    if (e == CST_ERR_CONFLICT)
        return e;
    cst_err_clear();
    cst_audit_info(req, "drill_id", json_string(d.id));
    cst_audit_info(req, "backup_id", json_string(d.backup_id));
    cst_audit_info(req, "result", json_string(d.ok ? "pass" : "fail"));
    cst_audit_info(req, "duration_ms", json_integer((json_int_t)d.duration_ms));
    cst_audit_info(req, "records", json_integer((json_int_t)d.records));
    return cst_resp_json(req, 200, cst_drill_row_json(&d));
}
