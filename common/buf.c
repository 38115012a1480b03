/*
 * buf.c - the capped growable buffer (hush_buf.h).
 */
#include <stdio.h>

#include "hush_buf.h"

void hush__buf_init(hush__buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max;
    b->error = 0;
}

static int fail(hush__buf *b, int code)
{
    hush_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->error = code;
    return code;
}

/* Room for `more` bytes and the NUL. */
static int reserve(hush__buf *b, size_t more)
{
    if (b->error != 0) {
        return b->error;
    }
    size_t need;
    if (!hush_size_add(b->len, more, &need) || need > b->max) {
        return fail(b, HUSH_ETOOBIG);
    }
    if (need + 1 <= b->cap) {
        return 0;
    }
    size_t cap = b->cap != 0 ? b->cap : 256;
    while (cap < need + 1) {
        cap = cap <= SIZE_MAX / 2 ? cap * 2 : need + 1;
    }
    if (b->max < SIZE_MAX && cap > b->max + 1) {
        cap = b->max + 1; /* never more than the cap can use (and max + 1
                             must not wrap around to 0) */
    }
    char *grown = hush_realloc(b->data, cap);
    if (grown == NULL) {
        return fail(b, HUSH_ENOMEM);
    }
    b->data = grown;
    b->cap = cap;
    return 0;
}

void hush__buf_fail(hush__buf *b, int code)
{
    if (code != 0 && b->error == 0) {
        fail(b, code);
    }
}

int hush__buf_reserve(hush__buf *b, size_t more)
{
    return reserve(b, more);
}

int hush__buf_add(hush__buf *b, const void *p, size_t n)
{
    int rc = reserve(b, n);
    if (rc != 0) {
        return rc;
    }
    if (n != 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int hush__buf_adds(hush__buf *b, const char *s)
{
    return hush__buf_add(b, s, strlen(s));
}

int hush__buf_vaddf(hush__buf *b, const char *fmt, va_list ap)
{
    if (b->error != 0) {
        return b->error;
    }
    char small[256];
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n < 0) {
        va_end(again);
        return fail(b, HUSH_ENOMEM); /* an encoding error: nothing sane to keep */
    }
    if ((size_t)n < sizeof small) {
        va_end(again);
        return hush__buf_add(b, small, (size_t)n);
    }
    int rc = reserve(b, (size_t)n);
    if (rc == 0) {
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
        b->len += (size_t)n;
    }
    va_end(again);
    return rc;
}

int hush__buf_addf(hush__buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = hush__buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int hush__buf_error(const hush__buf *b)
{
    return b->error;
}

char *hush__buf_take(hush__buf *b, size_t *len)
{
    if (b->error != 0) {
        return NULL;
    }
    char *out = b->data;
    size_t n = b->len;
    if (out == NULL) {
        out = hush_malloc(1);
        if (out == NULL) {
            fail(b, HUSH_ENOMEM);
            return NULL;
        }
        out[0] = '\0';
    }
    b->data = NULL;
    b->len = b->cap = 0;
    if (len != NULL) {
        *len = n;
    }
    return out;
}

void hush__buf_free(hush__buf *b)
{
    hush_free(b->data);
    hush__buf_init(b, b->max);
}

void hush__buf_reset(hush__buf *b)
{
    b->len = 0;
    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}

int hush__buf_getline(hush__buf *b, FILE *f)
{
    hush__buf_reset(b);
    if (b->error != 0) {
        return b->error;
    }
    bool any = false;
    int c;
    while ((c = getc(f)) != EOF) {
        any = true;
        if (c == '\n') {
            break;
        }
        char ch = (char)c;
        int rc = hush__buf_add(b, &ch, 1);
        if (rc != 0) {
            return rc;
        }
    }
    if (ferror(f)) {
        return HUSH_EIO;
    }
    if (!any) {
        return 0;
    }
    if (b->len > 0 && b->data[b->len - 1] == '\r') {
        b->data[--b->len] = '\0';
    }
    if (b->data == NULL) {
        return hush__buf_add(b, "", 0) == 0 ? 1 : b->error; /* an empty line */
    }
    return 1;
}
