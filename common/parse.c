/*
 * parse.c - the one checked way hush turns text into numbers.
 *
 * strtoull/strtod accept leading blanks, signs and trailing garbage; these
 * wrappers accept a whole, plain number or report exactly what was wrong.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "hush_common.h"

int hush_parse_u64(const char *text, uint64_t min, uint64_t max, const char *what,
                   uint64_t *out, hush_err *err)
{
    if (text == NULL || text[0] < '0' || text[0] > '9') {
        return hush_err_set(err, HUSH_EINVAL,
                            "%s must be a non-negative integer (got \"%s\")", what,
                            text != NULL ? text : "(null)");
    }
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(text, &end, 10);
    if (*end != '\0') {
        return hush_err_set(err, HUSH_EINVAL,
                            "%s must be a non-negative integer (got \"%s\")", what, text);
    }
    if (errno == ERANGE || v < min || v > max) {
        return hush_err_set(err, HUSH_ERANGE, "%s must be in [%llu, %llu] (got %s)", what,
                            (unsigned long long)min, (unsigned long long)max, text);
    }
    *out = (uint64_t)v;
    return 0;
}

int hush_parse_double(const char *text, double min, double max, const char *what,
                      double *out, hush_err *err)
{
    if (text == NULL || text[0] == '\0' || text[0] == ' ' || text[0] == '\t' ||
        text[0] == '\n') {
        return hush_err_set(err, HUSH_EINVAL, "%s must be a number (got \"%s\")", what,
                            text != NULL ? text : "(null)");
    }
    errno = 0;
    char *end = NULL;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || isnan(v)) {
        return hush_err_set(err, HUSH_EINVAL, "%s must be a number (got \"%s\")", what,
                            text);
    }
    if ((isinf(v) && !isinf(max)) || v < min || v > max) {
        return hush_err_set(err, HUSH_ERANGE, "%s must be in [%g, %g] (got %s)", what,
                            min, max, text);
    }
    *out = v;
    return 0;
}
