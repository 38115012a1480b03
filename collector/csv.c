/*
 * csv.c - a JSON document's table as CSV (csv.h).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "csv.h"
#include "hush_buf.h"
#include "hush_json.h"

#define MAX_COLUMNS 256

/* A column: a field of the rows (key), or of an object in one (key.sub),
 * or one end of an interval (key, end 0 or 1). */
struct column {
    char name[160];
    const char *key, *sub;
    int end;   /* -1, or 0 (low), 1 (high) */
    bool lead; /* a field of the document, not of a row */
};

static bool listed(const char *const *names, const char *key)
{
    for (size_t i = 0; names != NULL && names[i] != NULL; i++) {
        if (strcmp(names[i], key) == 0) {
            return true;
        }
    }
    return false;
}

static bool is_interval(const json_t *v)
{
    return json_is_array(v) && json_array_size(v) == 2 &&
           json_is_number(json_array_get(v, 0)) && json_is_number(json_array_get(v, 1));
}

/* Adds a column unless one of that name exists; false when full. */
static bool add_column(struct column *cols, size_t *n, const char *key, const char *sub,
                       int end, bool lead)
{
    char name[sizeof cols[0].name];
    if (sub != NULL) {
        snprintf(name, sizeof name, "%s.%s", key, sub);
    } else if (end >= 0) {
        snprintf(name, sizeof name, "%s_%s", key, end == 0 ? "low" : "high");
    } else {
        snprintf(name, sizeof name, "%s", key);
    }
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(cols[i].name, name) == 0) {
            return true;
        }
    }
    if (*n == MAX_COLUMNS) {
        return false;
    }
    struct column *c = &cols[(*n)++];
    memcpy(c->name, name, sizeof name);
    c->key = key;
    c->sub = sub;
    c->end = end;
    c->lead = lead;
    return true;
}

static void columns_of(const json_t *row, const char *const *whole, struct column *cols,
                       size_t *n)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)row, key, v)
    {
        if (json_is_null(v)) {
            continue; /* says nothing of the field's shape: see nulls_of */
        }
        if (json_is_object(v) && !listed(whole, key)) {
            const char *sub;
            json_t *sv;
            json_object_foreach(v, sub, sv)
            {
                (void)sv;
                add_column(cols, n, key, sub, -1, false);
            }
        } else if (is_interval(v)) {
            add_column(cols, n, key, NULL, 0, false);
            add_column(cols, n, key, NULL, 1, false);
        } else {
            add_column(cols, n, key, NULL, -1, false);
        }
    }
}

/* A field that is null wherever it appears: one column of its own. */
static void nulls_of(const json_t *row, struct column *cols, size_t *n)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)row, key, v)
    {
        bool seen = false;
        for (size_t i = 0; i < *n && !seen; i++) {
            seen = strcmp(cols[i].key, key) == 0;
        }
        if (!seen) {
            add_column(cols, n, key, NULL, -1, false);
        }
    }
}

/* One cell: quoted when it holds a comma, a quote or a line break. */
static void put_text(hush__buf *b, const char *s, bool guard)
{
    bool formula = guard && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' ||
                             s[0] == '\t' || s[0] == '\r');
    if (strpbrk(s, ",\"\r\n") == NULL) {
        hush__buf_addf(b, "%s%s", formula ? "'" : "", s);
        return;
    }
    hush__buf_adds(b, formula ? "\"'" : "\"");
    for (const char *p = s; *p != '\0'; p++) {
        hush__buf_add(b, p, 1);
        if (*p == '"') {
            hush__buf_add(b, p, 1);
        }
    }
    hush__buf_adds(b, "\"");
}

static void put_value(hush__buf *b, const json_t *v)
{
    if (v == NULL || json_is_null(v)) {
        return;
    }
    if (json_is_string(v)) {
        put_text(b, json_string_value(v), true);
    } else if (json_is_integer(v)) {
        hush__buf_addf(b, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        hush__buf_addf(b, "%.10g", json_real_value(v));
    } else if (json_is_boolean(v)) {
        hush__buf_adds(b, json_is_true(v) ? "true" : "false");
    } else {
        char *text = hush__json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(10), NULL);
        if (text == NULL) {
            hush__buf_fail(b, HUSH_ENOMEM);
            return;
        }
        put_text(b, text, false);
        hush_free(text);
    }
}

static const json_t *cell(const struct column *c, const json_t *doc, const json_t *row)
{
    const json_t *v = json_object_get(c->lead ? doc : row, c->key);
    if (c->sub != NULL) {
        return json_is_object(v) ? json_object_get(v, c->sub) : NULL;
    }
    if (c->end >= 0) {
        return is_interval(v) ? json_array_get(v, (size_t)c->end) : NULL;
    }
    return v;
}

char *hush__csv_table(const json_t *doc, const char *rows, const char *const *leads,
                      const char *const *whole, size_t *len)
{
    struct column *cols = hush_calloc(MAX_COLUMNS, sizeof *cols);
    if (cols == NULL) {
        return NULL;
    }
    size_t n = 0;
    for (size_t i = 0; leads != NULL && leads[i] != NULL; i++) {
        add_column(cols, &n, leads[i], NULL, -1, true);
    }
    const json_t *arr = json_object_get(doc, rows);
    for (size_t r = 0; r < json_array_size(arr); r++) {
        columns_of(json_array_get(arr, r), whole, cols, &n);
    }
    for (size_t r = 0; r < json_array_size(arr); r++) {
        nulls_of(json_array_get(arr, r), cols, &n);
    }
    hush__buf b;
    hush__buf_init(&b, (size_t)1 << 30);
    for (size_t i = 0; i < n; i++) {
        hush__buf_adds(&b, i > 0 ? "," : "");
        put_text(&b, cols[i].name, false);
    }
    hush__buf_adds(&b, "\r\n");
    for (size_t r = 0; r < json_array_size(arr); r++) {
        const json_t *row = json_array_get(arr, r);
        for (size_t i = 0; i < n; i++) {
            hush__buf_adds(&b, i > 0 ? "," : "");
            put_value(&b, cell(&cols[i], doc, row));
        }
        hush__buf_adds(&b, "\r\n");
    }
    hush_free(cols);
    return hush__buf_take(&b, len);
}
