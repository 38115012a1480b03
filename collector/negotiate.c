/*
 * negotiate.c - Accept, Accept-Encoding, If-None-Match and Origin
 * (negotiate.h).  Each header is a comma-separated list; an element is
 * read in place, never copied, and one that does not parse is skipped.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "negotiate.h"

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* The next element of a comma-separated list from *p: [*s, *e) trimmed;
 * false at the end. */
static bool next_element(const char **p, const char **s, const char **e)
{
    const char *q = *p;
    while (*q == ',' || is_space(*q)) {
        q++;
    }
    if (*q == '\0') {
        return false;
    }
    const char *end = strchr(q, ',');
    if (end == NULL) {
        end = q + strlen(q);
    }
    *p = end;
    *s = q;
    while (end > q && is_space(end[-1])) {
        end--;
    }
    *e = end;
    return true;
}

/* A q-value (RFC 9110 12.4.2: 0, 1 or up to three decimals) as thousandths,
 * or -1. */
static int qvalue(const char *s, const char *e)
{
    if (s == e || (*s != '0' && *s != '1')) {
        return -1;
    }
    int v = (*s - '0') * 1000, scale = 100;
    s++;
    if (s < e && *s == '.') {
        s++;
        for (int digits = 0; s < e && digits < 3; s++, digits++, scale /= 10) {
            if (*s < '0' || *s > '9') {
                return -1;
            }
            v += (*s - '0') * scale;
        }
    }
    return s == e && v <= 1000 ? v : -1;
}

/* An element "value *(; param)" split: its value [*vs, *ve) and its q
 * (1000 when absent; -1: a q that does not parse). */
static int element_q(const char *s, const char *e, const char **ve)
{
    const char *semi = memchr(s, ';', (size_t)(e - s));
    const char *v = semi != NULL ? semi : e;
    while (v > s && is_space(v[-1])) {
        v--;
    }
    *ve = v;
    int q = 1000;
    while (semi != NULL) {
        const char *ps = semi + 1;
        semi = memchr(ps, ';', (size_t)(e - ps));
        const char *pe = semi != NULL ? semi : e;
        while (ps < pe && is_space(*ps)) {
            ps++;
        }
        while (pe > ps && is_space(pe[-1])) {
            pe--;
        }
        if (pe - ps >= 2 && (ps[0] == 'q' || ps[0] == 'Q') && ps[1] == '=') {
            q = qvalue(ps + 2, pe);
        }
    }
    return q;
}

static bool equals(const char *s, const char *e, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(e - s) == n && strncasecmp(s, lit, n) == 0;
}

/* The q Accept gives `type`/`sub`: that of the most specific range that
 * matches it, or 0 when none does. */
static int accept_q(const char *accept, const char *type, const char *sub)
{
    char full[64], family[40];
    snprintf(full, sizeof full, "%s/%s", type, sub);
    snprintf(family, sizeof family, "%s/*", type);
    int best_rank = -1, best_q = 0;
    const char *p = accept, *s, *e;
    while (next_element(&p, &s, &e)) {
        const char *ve;
        int q = element_q(s, e, &ve);
        int rank = equals(s, ve, full)     ? 2
                   : equals(s, ve, family) ? 1
                   : equals(s, ve, "*/*")  ? 0
                                           : -1;
        if (q >= 0 && rank > best_rank) {
            best_rank = rank;
            best_q = q;
        }
    }
    return best_q;
}

bool hush__choose_format(const char *format_arg, const char *accept,
                         enum hush__format *out)
{
    if (format_arg != NULL) {
        if (strcmp(format_arg, "json") == 0) {
            *out = HUSH__FORMAT_JSON;
        } else if (strcmp(format_arg, "csv") == 0) {
            *out = HUSH__FORMAT_CSV;
        } else {
            return false;
        }
        return true;
    }
    *out = accept != NULL && accept_q(accept, "text", "csv") >
                                 accept_q(accept, "application", "json")
               ? HUSH__FORMAT_CSV
               : HUSH__FORMAT_JSON;
    return true;
}

bool hush__accepts_gzip(const char *accept_encoding)
{
    if (accept_encoding == NULL) {
        return false;
    }
    int gzip = -1, any = -1;
    const char *p = accept_encoding, *s, *e;
    while (next_element(&p, &s, &e)) {
        const char *ve;
        int q = element_q(s, e, &ve);
        if (equals(s, ve, "gzip") || equals(s, ve, "x-gzip")) {
            gzip = q;
        } else if (equals(s, ve, "*")) {
            any = q;
        }
    }
    return gzip >= 0 ? gzip > 0 : any > 0;
}

bool hush__etag_listed(const char *if_none_match, const char *etag)
{
    if (if_none_match == NULL || etag == NULL) {
        return false;
    }
    size_t n = strlen(etag);
    const char *p = if_none_match, *s, *e;
    while (next_element(&p, &s, &e)) {
        if (e - s == 1 && *s == '*') {
            return true;
        }
        if (e - s >= 2 && s[0] == 'W' && s[1] == '/') {
            s += 2; /* weak comparison: the opaque tags alone */
        }
        if ((size_t)(e - s) == n && memcmp(s, etag, n) == 0) {
            return true;
        }
    }
    return false;
}

bool hush__origin_allowed(const char *allowed, const char *origin)
{
    if (allowed == NULL || origin == NULL || *origin == '\0') {
        return false;
    }
    const char *p = allowed, *s, *e;
    while (next_element(&p, &s, &e)) {
        if ((e - s == 1 && *s == '*') || ((size_t)(e - s) == strlen(origin) &&
                                          memcmp(s, origin, (size_t)(e - s)) == 0)) {
            return true;
        }
    }
    return false;
}
