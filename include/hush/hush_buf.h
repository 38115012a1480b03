/*
 * hush_buf.h - a growable byte buffer with a hard cap (internal to hush:
 * not exported from the shared libraries).
 *
 * Every component that reads text of unknown length (a request body, a
 * generator's output, an email, the /metrics page) appends to one of
 * these instead of writing its own growth loop.  The cap is set when the
 * buffer is made; an append that would pass it fails with HUSH_ETOOBIG, a
 * failed allocation with HUSH_ENOMEM, and in both cases the buffer frees
 * what it held and stays failed (every later append fails the same way),
 * so a caller may append many times and check once.  The contents are
 * always NUL-terminated (not counted in `len`), so text can be read in
 * place.
 *
 *     hush__buf b;
 *     hush__buf_init(&b, 1 << 20);
 *     hush__buf_addf(&b, "%s=%u\n", name, value);
 *     if (hush__buf_error(&b) != 0) { ... }   // nothing to free
 *     char *text = hush__buf_take(&b, &len);  // hush_free it
 */
#ifndef HUSH_BUF_H
#define HUSH_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "hush_common.h"

typedef struct hush__buf {
    char *data; /* NUL-terminated; NULL until the first append */
    size_t len; /* bytes held, not counting the NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* the hard cap on len */
    int error;  /* 0, HUSH_ETOOBIG or HUSH_ENOMEM: the first failure */
} hush__buf;

/* An empty buffer that will hold at most `max` bytes. */
void hush__buf_init(hush__buf *b, size_t max);
/* Appends n bytes; 0, or the buffer's error (it is then empty and freed). */
int hush__buf_add(hush__buf *b, const void *p, size_t n);
int hush__buf_adds(hush__buf *b, const char *s);
int hush__buf_addf(hush__buf *b, const char *fmt, ...) HUSH_PRINTF(2, 3);
int hush__buf_vaddf(hush__buf *b, const char *fmt, va_list ap) HUSH_PRINTF(2, 0);
/* 0 while every append worked, else the first failure's code. */
int hush__buf_error(const hush__buf *b);
/* Hands the contents over (hush_free them; "" when nothing was added) and
 * empties the buffer; NULL if the buffer failed or the allocation does. */
char *hush__buf_take(hush__buf *b, size_t *len);
/* Frees the contents; the buffer may be used again (cap and error reset). */
void hush__buf_free(hush__buf *b);
/* Fails the buffer as a failed append would (freed, `code` sticks): for a
 * caller whose own failure must carry into it.  A failed buffer keeps its
 * first error; code 0 does nothing (so another buffer's hush__buf_error can
 * be passed as it is). */
void hush__buf_fail(hush__buf *b, int code);
/* Makes room for `more` bytes now (one allocation when the size is known
 * in advance); the buffer's error if that passes the cap or memory. */
int hush__buf_reserve(hush__buf *b, size_t more);
/* Empties the buffer but keeps its memory (and any error). */
void hush__buf_reset(hush__buf *b);
/* Reads the next line of f into b (replacing what it held; the '\n' and a
 * '\r' before it dropped): 1 for a line, 0 at the end of the file, or the
 * buffer's error for a line longer than its cap (b is then failed; reset
 * it with hush__buf_free to go on) or HUSH_EIO for a read error. */
int hush__buf_getline(hush__buf *b, FILE *f);

#endif
