/* err.c: the error table that maps custodia's status codes to HTTP statuses and API codes. */
#include "util/err.h"

#include <stdio.h>

static const struct {
    int status;
    const char *code;
    const char *text;
} err_table[CST_ERR__COUNT] = {
    [CST_OK] = {200, "ok", "ok"},
    [CST_ERR_INVALID] = {400, "invalid_request", "the request is invalid"},
    [CST_ERR_UNAUTHENTICATED] = {401, "unauthenticated", "missing, invalid or expired credentials"},
    [CST_ERR_MFA_REQUIRED] = {401, "mfa_required", "a second factor is required"},
    [CST_ERR_FORBIDDEN] = {403, "forbidden", "the credential lacks the permission for this"},
    [CST_ERR_IP_NOT_ALLOWED] = {403, "ip_not_allowed",
                                "requests from this address are not allowed"},
    [CST_ERR_REGION_MISMATCH] = {403, "region_mismatch", "this node serves another region"},
    [CST_ERR_PASSWORD_CHANGE_REQUIRED] = {403, "password_change_required",
                                          "the password must be changed first"},
    [CST_ERR_MFA_ENROLLMENT_REQUIRED] = {403, "mfa_enrollment_required",
                                         "two-factor enrolment is required first"},
    [CST_ERR_NOT_FOUND] = {404, "not_found", "no such resource"},
    [CST_ERR_METHOD_NOT_ALLOWED] = {405, "method_not_allowed", "method not allowed on this path"},
    [CST_ERR_CONFLICT] = {409, "conflict", "the request conflicts with the current state"},
    [CST_ERR_PRECONDITION] = {412, "precondition_failed", "a precondition did not hold"},
    [CST_ERR_TOO_LARGE] = {413, "payload_too_large", "the request body is too large"},
    [CST_ERR_UNSUPPORTED_MEDIA] = {415, "unsupported_media_type",
                                   "this route takes Content-Type: application/json"},
    [CST_ERR_LOCKED] = {423, "locked", "the account is locked"},
    [CST_ERR_RATE_LIMITED] = {429, "rate_limited", "too many requests"},
    [CST_ERR_HEADERS_TOO_LARGE] = {431, "headers_too_large", "the request headers are too large"},
    [CST_ERR_INTERNAL] = {500, "internal_error", "internal error"},
    [CST_ERR_INTEGRITY] = {500, "integrity_error", "stored data failed its integrity check"},
    [CST_ERR_UNAVAILABLE] = {503, "unavailable", "storage could not complete the request"},
    [CST_ERR_AUDIT_UNAVAILABLE] = {503, "audit_unavailable", "the audit log cannot be written"},
};

static _Thread_local char err_msg[256];
static _Thread_local int err_msg_set;

int cst_err_status(cst_err e)
{
    if ((unsigned)e >= CST_ERR__COUNT)
        return 500;
    return err_table[e].status;
}

const char *cst_err_code(cst_err e)
{
    if ((unsigned)e >= CST_ERR__COUNT)
        return "internal_error";
    return err_table[e].code;
}

cst_err cst_fail(cst_err e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    /* A truncated message is still a useful message; the buffer is always terminated. */
    (void)vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
    va_end(ap);
    err_msg_set = 1;
    return e;
}

const char *cst_err_message(cst_err e)
{
    if (err_msg_set)
        return err_msg;
    if ((unsigned)e >= CST_ERR__COUNT)
        return "internal error";
    return err_table[e].text;
}

void cst_err_clear(void)
{
    err_msg_set = 0;
    err_msg[0] = '\0';
}
