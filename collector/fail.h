/*
 * fail.h - how the collector's domain says what went wrong.
 *
 * A domain function returns 0 or a HUSH_E… code and fills a hush__fail:
 * the code and a message (a hush_err) and the API's name for the failure
 * ("invalid_mechanism", "round_closed"), which clients match on.  The
 * domain knows nothing of HTTP: the API layer turns the code into a status
 * with one table (api.c, hush__status_of), so that every EINVAL is a 400
 * and every EIO a 503 wherever it comes from.
 */
#ifndef HUSH_COLLECTOR_FAIL_H
#define HUSH_COLLECTOR_FAIL_H

#include "hush_common.h"

typedef struct hush__fail {
    hush_err err;
    const char *reason; /* static text; NULL: the code's own name */
} hush__fail;

/* Records the failure unless one is recorded already (like hush_err_set);
 * returns `code`.  NULL `f` is accepted. */
int hush__fail_set(hush__fail *f, int code, const char *reason, const char *fmt, ...)
    HUSH_PRINTF(4, 5);
/* Records an error from a lower layer under `reason`, keeping its code
 * and message; returns the code. */
int hush__fail_from(hush__fail *f, const hush_err *err, const char *reason);
/* A lower layer's failure that is the collector's own fault, not the
 * request's: HUSH_ENOMEM stays, any other code becomes HUSH_EINTERNAL;
 * the reason is "internal". */
int hush__fail_internal(hush__fail *f, const hush_err *err);

#endif
