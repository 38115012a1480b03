/*
 * fail.c - the domain's failure record (fail.h).
 */
#include <stdarg.h>

#include "fail.h"

int hush__fail_set(hush__fail *f, int code, const char *reason, const char *fmt, ...)
{
    if (f == NULL || f->err.code != 0) {
        return code;
    }
    va_list ap;
    va_start(ap, fmt);
    hush_err_setv(&f->err, code, fmt, ap);
    va_end(ap);
    f->reason = reason;
    return code;
}

int hush__fail_from(hush__fail *f, const hush_err *err, const char *reason)
{
    int code = err->code != 0 ? err->code : HUSH_EINTERNAL;
    return hush__fail_set(f, code, reason, "%s",
                          err->msg[0] ? err->msg : hush_strerror(code));
}

int hush__fail_internal(hush__fail *f, const hush_err *err)
{
    int code = err->code == HUSH_ENOMEM ? HUSH_ENOMEM : HUSH_EINTERNAL;
    return hush__fail_set(f, code, "internal", "%s",
                          err->msg[0] ? err->msg : hush_strerror(code));
}
