/* buf.c: bounds-checked byte buffers. */
#include "util/buf.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

void cst_buf_init(cst_buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap;
}

void cst_buf_free(cst_buf *b)
{
    free(b->data);
    cst_buf_init(b, b->cap);
}

void cst_buf_wipe_free(cst_buf *b)
{
    if (b->data)
        sodium_memzero(b->data, b->alloc);
    cst_buf_free(b);
}

static cst_err buf_reserve(cst_buf *b, size_t extra)
{
    ENSURE(extra <= b->cap && b->len <= b->cap - extra, CST_ERR_TOO_LARGE,
           "data exceeds the limit of %zu bytes", b->cap);
    size_t need = b->len + extra;
    if (need <= b->alloc)
        return CST_OK;
    size_t n = b->alloc ? b->alloc : 256;
    while (n < need)
        n = n > SIZE_MAX / 2 ? need : n * 2;
    if (n > b->cap)
        n = b->cap;
    uint8_t *p = malloc(n);
    ENSURE(p != NULL, CST_ERR_INTERNAL, "out of memory");
    if (b->data) {
        memcpy(p, b->data, b->len);
        /* Old storage may have held plaintext; never leave it behind in freed memory. */
        sodium_memzero(b->data, b->alloc);
        free(b->data);
    }
    b->data = p;
    b->alloc = n;
    return CST_OK;
}

cst_err cst_buf_append(cst_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return CST_OK;
    TRY(buf_reserve(b, n));
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return CST_OK;
}

cst_err cst_buf_append_u8(cst_buf *b, uint8_t v)
{
    return cst_buf_append(b, &v, 1);
}

cst_err cst_buf_append_u16be(cst_buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    return cst_buf_append(b, x, sizeof(x));
}

cst_err cst_buf_append_u32be(cst_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return cst_buf_append(b, x, sizeof(x));
}

cst_err cst_buf_append_u64be(cst_buf *b, uint64_t v)
{
    TRY(cst_buf_append_u32be(b, (uint32_t)(v >> 32)));
    return cst_buf_append_u32be(b, (uint32_t)v);
}

cst_err cst_buf_append_lv16(cst_buf *b, const void *p, size_t n)
{
    ENSURE(n <= UINT16_MAX, CST_ERR_INVALID, "field longer than 65535 bytes");
    TRY(cst_buf_append_u16be(b, (uint16_t)n));
    return cst_buf_append(b, p, n);
}

void cst_reader_init(cst_reader *r, const void *p, size_t len)
{
    r->p = p;
    r->len = p ? len : 0;
    r->pos = 0;
}

size_t cst_reader_left(const cst_reader *r)
{
    return r->len - r->pos;
}

cst_err cst_reader_bytes(cst_reader *r, size_t n, const uint8_t **p)
{
    ENSURE(n <= cst_reader_left(r), CST_ERR_INTEGRITY, "truncated data");
    *p = r->p + r->pos;
    r->pos += n;
    return CST_OK;
}

cst_err cst_reader_u8(cst_reader *r, uint8_t *v)
{
    const uint8_t *p;
    TRY(cst_reader_bytes(r, 1, &p));
    *v = p[0];
    return CST_OK;
}

cst_err cst_reader_u16be(cst_reader *r, uint16_t *v)
{
    const uint8_t *p;
    TRY(cst_reader_bytes(r, 2, &p));
    *v = (uint16_t)((p[0] << 8) | p[1]);
    return CST_OK;
}

cst_err cst_reader_u32be(cst_reader *r, uint32_t *v)
{
    const uint8_t *p;
    TRY(cst_reader_bytes(r, 4, &p));
    *v = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    return CST_OK;
}

cst_err cst_reader_lv16(cst_reader *r, const uint8_t **p, size_t *n)
{
    uint16_t len;
    TRY(cst_reader_u16be(r, &len));
    TRY(cst_reader_bytes(r, len, p));
    *n = len;
    return CST_OK;
}
