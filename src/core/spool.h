/* spool.h: POR-1. An import's upload spooled encrypted to an unnamed file under a scratch dir,
 * so that an import costs disk rather than memory; read back line by line. */
#ifndef CST_CORE_SPOOL_H
#define CST_CORE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

/* cst_spool_write fits a request's body sink; cst_spool_free_ctx its free. */
#define CST_SPOOL_LAST_MAX 4096 /* the manifest line is far shorter */
typedef struct cst_spool cst_spool;
typedef struct cst_spool_summary {
    size_t bytes;
    const char *last; /* the last line (not NUL-terminated), or NULL when it is too long */
    size_t last_len;
    uint8_t sha256_before_last[32]; /* over every byte before the last line */
} cst_spool_summary;
/* Creates the spool in dir (mode 0700, created when missing); more than limit bytes fail with
 * CST_ERR_TOO_LARGE, a full disk with CST_ERR_UNAVAILABLE. */
CST_MUST_USE cst_err cst_spool_open(const char *dir, size_t limit, cst_spool **out);
CST_MUST_USE cst_err cst_spool_write(void *spool, const void *data, size_t n);
/* Ends the upload and rewinds for reading; out->last points into the spool. */
CST_MUST_USE cst_err cst_spool_finish(cst_spool *sp, cst_spool_summary *out);
/* The next line (without its newline) into line, refusing one longer than max; *eof once the
 * spool is read to its end. */
CST_MUST_USE cst_err cst_spool_line(cst_spool *sp, cst_buf *line, size_t max, bool *eof);
/* Closes (and so removes) the file, wipes the key. */
void cst_spool_free(cst_spool *sp);
void cst_spool_free_ctx(void *spool);

#endif
