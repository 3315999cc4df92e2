/* audit_fixture.h: the audit log that test_audit.c and fuzz_audit.c build: its options and
 * its entries (entry i of a stream, with its own request id and resource). */
#ifndef CST_AUDIT_FIXTURE_H
#define CST_AUDIT_FIXTURE_H

#include <stdio.h>

#include "audit/audit.h"

static inline cst_audit_opts cst_fixture_audit_opts(const char *dir, const char *epoch_file,
                                                    const cst_key *kek, int seal_entries)
{
    cst_audit_opts o = {.dir = dir,
                        .epoch_file = epoch_file,
                        .kek = kek,
                        .node_id = "nd_00000000000000000001",
                        .seal_entries = seal_entries,
                        .seal_seconds = 3600,
                        .group_commit = true,
                        .segment_bytes = 1L << 30,
                        .segment_seconds = 30 * 86400,
                        .retention_days = {365, 90}};
    return o;
}

static inline cst_err cst_fixture_audit_append(cst_audit *a, cst_audit_stream s, int i)
{
    char rid[40], res[64];
    (void)snprintf(rid, sizeof(rid), "req%d", i);
    (void)snprintf(res, sizeof(res), "/v1/users/us_%020d", i);
    cst_audit_event ev = {.stream = s,
                          .tenant = "tn_00000000000000000001",
                          .actor_type = "user",
                          .actor_id = "us_00000000000000000001",
                          .source_ip = "127.0.0.1",
                          .action = s == CST_AUDIT_ACCESS ? "record.read" : "user.read",
                          .resource = res,
                          .outcome = "success",
                          .status = 200,
                          .request_id = rid};
    return cst_audit_append(a, &ev);
}

#endif
