/* buf.h: bounds-checked byte buffers: a growable writer with a hard cap, and a reader that
 * refuses to read past its end. All untrusted bytes pass through one of these. */
#ifndef CST_BUF_H
#define CST_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Growable buffer. Owns data (malloc); cst_buf_free releases it. Never grows beyond cap. */
typedef struct cst_buf {
    uint8_t *data;
    size_t len;
    size_t alloc;
    size_t cap;
} cst_buf;

void cst_buf_init(cst_buf *b, size_t cap);
void cst_buf_free(cst_buf *b);
/* Wipes the contents before releasing them (for buffers that held plaintext). */
void cst_buf_wipe_free(cst_buf *b);
CST_MUST_USE cst_err cst_buf_append(cst_buf *b, const void *p, size_t n);
CST_MUST_USE cst_err cst_buf_append_u8(cst_buf *b, uint8_t v);
CST_MUST_USE cst_err cst_buf_append_u16be(cst_buf *b, uint16_t v);
CST_MUST_USE cst_err cst_buf_append_u32be(cst_buf *b, uint32_t v);
CST_MUST_USE cst_err cst_buf_append_u64be(cst_buf *b, uint64_t v);
/* Appends a u16 big-endian length and then the bytes; fails when n > 65535. */
CST_MUST_USE cst_err cst_buf_append_lv16(cst_buf *b, const void *p, size_t n);

/* Read cursor over bytes it does not own. */
typedef struct cst_reader {
    const uint8_t *p;
    size_t len;
    size_t pos;
} cst_reader;

void cst_reader_init(cst_reader *r, const void *p, size_t len);
size_t cst_reader_left(const cst_reader *r);
CST_MUST_USE cst_err cst_reader_u8(cst_reader *r, uint8_t *v);
CST_MUST_USE cst_err cst_reader_u16be(cst_reader *r, uint16_t *v);
CST_MUST_USE cst_err cst_reader_u32be(cst_reader *r, uint32_t *v);
/* Points *p at the next n bytes (no copy) and advances. */
CST_MUST_USE cst_err cst_reader_bytes(cst_reader *r, size_t n, const uint8_t **p);
/* Reads a u16 length and then that many bytes. */
CST_MUST_USE cst_err cst_reader_lv16(cst_reader *r, const uint8_t **p, size_t *n);

#endif
