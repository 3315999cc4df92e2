/* err.h: custodia's one status type, its error table, and the TRY/ENSURE macros. */
#ifndef CST_ERR_H
#define CST_ERR_H

#include <stdarg.h>

/* Every fallible function returns a cst_err; the compiler refuses to let a caller drop it. */
typedef enum cst_err {
    CST_OK = 0,
    CST_ERR_INVALID,                  /* 400 invalid_request */
    CST_ERR_UNAUTHENTICATED,          /* 401 unauthenticated */
    CST_ERR_MFA_REQUIRED,             /* 401 mfa_required */
    CST_ERR_FORBIDDEN,                /* 403 forbidden */
    CST_ERR_IP_NOT_ALLOWED,           /* 403 ip_not_allowed */
    CST_ERR_REGION_MISMATCH,          /* 403 region_mismatch */
    CST_ERR_PASSWORD_CHANGE_REQUIRED, /* 403 password_change_required */
    CST_ERR_MFA_ENROLLMENT_REQUIRED,  /* 403 mfa_enrollment_required */
    CST_ERR_NOT_FOUND,                /* 404 not_found */
    CST_ERR_METHOD_NOT_ALLOWED,       /* 405 method_not_allowed */
    CST_ERR_CONFLICT,                 /* 409 conflict */
    CST_ERR_PRECONDITION,             /* 412 precondition_failed */
    CST_ERR_TOO_LARGE,                /* 413 payload_too_large */
    CST_ERR_UNSUPPORTED_MEDIA,        /* 415 unsupported_media_type */
    CST_ERR_LOCKED,                   /* 423 locked */
    CST_ERR_RATE_LIMITED,             /* 429 rate_limited */
    CST_ERR_HEADERS_TOO_LARGE,        /* 431 headers_too_large */
    CST_ERR_INTERNAL,                 /* 500 internal_error */
    CST_ERR_INTEGRITY,                /* 500 integrity_error: stored data failed authentication */
    CST_ERR_UNAVAILABLE,              /* 503 unavailable: storage could not make a write durable */
    CST_ERR_AUDIT_UNAVAILABLE,        /* 503 audit_unavailable */
    CST_ERR__COUNT
} cst_err;

#define CST_MUST_USE __attribute__((warn_unused_result))

/* Propagate a failure. */
#define TRY(expr)                                                                                  \
    do {                                                                                           \
        cst_err try_err_ = (expr);                                                                 \
        if (try_err_ != CST_OK)                                                                    \
            return try_err_;                                                                       \
    } while (0)

/* Fail with code e and message (printf-style) when cond does not hold. */
#define ENSURE(cond, e, ...)                                                                       \
    do {                                                                                           \
        if (!(cond))                                                                               \
            return cst_fail((e), __VA_ARGS__);                                                     \
    } while (0)

/* HTTP status and API code of an error. */
int cst_err_status(cst_err e);
const char *cst_err_code(cst_err e);

/* Records a message for the current thread's failure and returns e. The message is what the
 * API client reads, so it must never carry secrets or customer data. */
cst_err cst_fail(cst_err e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The current thread's last message, or the table's default text for e when none was set
 * since cst_err_clear(). */
const char *cst_err_message(cst_err e);
void cst_err_clear(void);

#endif
