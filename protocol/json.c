/*
 * json.c - JSON text with every real number in its shortest form that
 * reads back to the same double.
 *
 * jansson writes reals with "%.17g", so 0.1 goes out as 0.10000000000000001
 * (exact, but not what anyone wrote, and what a reader shows); with fewer
 * digits some doubles would not round-trip.  hush_json_dumps therefore
 * writes with jansson and then rewrites each real token outside strings
 * with the fewest significant digits (1 to 17) that strtod maps back to the
 * same value, keeping it a real ("2.0", not "2").  Integers and strings are
 * copied untouched.
 */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hush_json.h"
#include "hush_protocol.h"

/* The shortest "%.*g" of v that reads back as v, as a JSON real.  %g drops
 * trailing zeros, and a decimal of fewer than 15 digits that reads back as
 * v is what v rounds to at 15 digits (v is within half an ulp of it, far
 * less than half a unit of the 15th digit): so 15, 16 and 17 digits are
 * the only ones to try. */
static size_t shortest(double v, char out[40])
{
    int n = 0;
    for (int p = 15; p <= 17; p++) {
        n = snprintf(out, 32, "%.*g", p, v);
        if (strtod(out, NULL) == v) {
            break;
        }
    }
    if (strpbrk(out, ".eE") == NULL && strpbrk(out, "ni") == NULL) {
        memcpy(out + n, ".0", 3); /* stays a real */
        n += 2;
    }
    return (size_t)n;
}

char *hush_json_dumps(const json_t *json, size_t flags)
{
    /* a caller that chose a precision short of exact (estimates: 10
     * digits) gets it; 17 or none means exact, written shortest */
    size_t prec = (flags >> 11) & 0x1F;
    if (prec != 0 && prec != 17) {
        return hush__json_dumps(json, flags, NULL);
    }
    char *s = hush__json_dumps(
        json, (flags & ~(size_t)JSON_REAL_PRECISION(31)) | JSON_REAL_PRECISION(17), NULL);
    if (s == NULL) {
        return NULL;
    }
    /* numbers in the C locale, whatever the app's (a library is linked
     * into apps that may use a decimal comma) */
    locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (c_locale == (locale_t)0) {
        hush_free(s);
        return NULL;
    }
    locale_t old = uselocale(c_locale);
    size_t n = strlen(s);
    /* a shortest form is never longer than jansson's (fewer digits, and
     * ".0" only where jansson wrote one too), but leave room regardless */
    char *out = hush_malloc(n + n / 2 + 64);
    if (out == NULL) {
        hush_free(s);
        uselocale(old);
        freelocale(c_locale);
        return NULL;
    }
    size_t o = 0;
    bool in_string = false;
    for (size_t i = 0; i < n;) {
        char c = s[i];
        if (in_string) {
            out[o++] = c;
            i++;
            if (c == '\\' && i < n) {
                out[o++] = s[i++];
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
            out[o++] = c;
            i++;
            continue;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            size_t j = i;
            bool real = false;
            while (j < n && (s[j] == '-' || s[j] == '+' || s[j] == '.' || s[j] == 'e' ||
                             s[j] == 'E' || (s[j] >= '0' && s[j] <= '9'))) {
                real = real || s[j] == '.' || s[j] == 'e' || s[j] == 'E';
                j++;
            }
            char tok[64];
            if (real && j - i < sizeof tok) {
                memcpy(tok, s + i, j - i);
                tok[j - i] = '\0';
                char form[40];
                size_t fl = shortest(strtod(tok, NULL), form);
                memcpy(out + o, form, fl);
                o += fl;
            } else {
                memcpy(out + o, s + i, j - i);
                o += j - i;
            }
            i = j;
            continue;
        }
        out[o++] = c;
        i++;
    }
    out[o] = '\0';
    hush_free(s);
    uselocale(old);
    freelocale(c_locale);
    return out;
}
