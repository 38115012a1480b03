/*
 * csv.h - a JSON document's table as CSV (RFC 4180), for analysts who read
 * estimates and round histories into a spreadsheet or a data frame.
 */
#ifndef HUSH_COLLECTOR_CSV_H
#define HUSH_COLLECTOR_CSV_H

#include <jansson.h>
#include <stddef.h>

#define HUSH__CSV_TYPE "text/csv; charset=utf-8; header=present"

/*
 * The CSV of doc's array `rows` (of objects): first the fields of doc
 * named in `leads` (NULL-terminated; the same value on every row, so that
 * tables of several campaigns or rounds can be concatenated), then every
 * field of the rows in the order they first appear.  The columns are the
 * JSON's own: a field that is an object becomes one column per field,
 * "name.field" (one level; deeper values are JSON text), unless it is named
 * in `whole` (NULL-terminated), which stay JSON text in one cell (a map
 * keyed by data, such as a lineage); an array of two numbers (an interval)
 * becomes name_low and name_high.  Strings are quoted when they must be; a
 * string that a spreadsheet would run as a formula (it starts with = + - @
 * or a tab or carriage return) is prefixed with ' (OWASP's advice); null is
 * an empty cell; lines end in CRLF.  New text (hush_free) and its length,
 * or NULL: out of memory.
 */
char *hush__csv_table(const json_t *doc, const char *rows, const char *const *leads,
                      const char *const *whole, size_t *len);

#endif
