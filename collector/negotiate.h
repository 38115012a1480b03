/*
 * negotiate.h - reading the request headers that choose a representation:
 * Accept (JSON or CSV), Accept-Encoding (gzip), If-None-Match (ETags) and
 * Origin against the --cors-origin list.  Pure functions of strings, so
 * that tests and a fuzz target (tests/fuzz/fuzz_negotiate.c) reach them
 * without a server.  A header that does not parse never fails a request:
 * it counts as absent, the way RFC 9110 asks a server to treat an element
 * it cannot read.
 */
#ifndef HUSH_COLLECTOR_NEGOTIATE_H
#define HUSH_COLLECTOR_NEGOTIATE_H

#include <stdbool.h>

enum hush__format { HUSH__FORMAT_JSON, HUSH__FORMAT_CSV };

/* The format of a document that has a CSV form: ?format= (json or csv)
 * when given, else CSV when Accept prefers text/csv to application/json
 * (by q-value; of the ranges that match a type, the most specific one
 * counts: the full type, then its family, then any), else JSON.  Returns false for a
 * ?format= value it does not know (the caller answers 400). */
bool hush__choose_format(const char *format_arg, const char *accept,
                         enum hush__format *out);

/* Whether Accept-Encoding allows gzip (listed, or by "*", with q > 0). */
bool hush__accepts_gzip(const char *accept_encoding);

/* Whether If-None-Match names `etag` (a quoted strong tag): "*" or a list
 * of entity tags, compared weakly as RFC 9110 13.1.2 asks. */
bool hush__etag_listed(const char *if_none_match, const char *etag);

/* Whether `origin` is one of the comma-separated origins of `allowed` (or
 * `allowed` is "*"); an empty list allows none. */
bool hush__origin_allowed(const char *allowed, const char *origin);

#endif
