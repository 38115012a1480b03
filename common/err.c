/*
 * err.c - error codes and the error-detail record.
 *
 * Invariant: a hush_err keeps the first error recorded in it; later failures
 * on the same path do not overwrite the root cause.
 */
#include <stdio.h>

#include "hush_common.h"

const char *hush_strerror(int code)
{
    switch (code) {
#define HUSH_ERRNO_TEXT(name, value, text) \
    case (value):                          \
        return (text);
        HUSH_ERRNO_MAP(HUSH_ERRNO_TEXT)
#undef HUSH_ERRNO_TEXT
    default:
        return "unknown error";
    }
}

void hush_err_clear(hush_err *err)
{
    if (err != NULL) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}

int hush_err_setv(hush_err *err, int code, const char *fmt, va_list ap)
{
    if (err == NULL || err->code != 0) {
        return code;
    }
    err->code = code;
    if (fmt == NULL) {
        snprintf(err->msg, sizeof err->msg, "%s", hush_strerror(code));
    } else {
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return code;
}

int hush_err_set(hush_err *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hush_err_setv(err, code, fmt, ap);
    va_end(ap);
    return code;
}
