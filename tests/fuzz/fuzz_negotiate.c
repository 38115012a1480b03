/*
 * fuzz_negotiate.c - libFuzzer target for the request headers hushd reads
 * to choose a representation (Accept, Accept-Encoding, If-None-Match,
 * Origin: negotiate.h) and for the CSV writer (csv.h), which turns
 * documents holding texts anyone may have posted (candidate texts, round
 * metrics) into CSV.  Properties: no crash, no read past the input; a
 * header never fails a request; the CSV of a document has exactly one
 * record per row plus the header (CRLFs outside quotes), and every quote is
 * closed.
 */
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "hush_common.h"
#include "negotiate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_csv(const char *text, size_t len)
{
    json_t *doc = json_loadb(text, len, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return;
    }
    static const char *const leads[] = {"campaign", "round", NULL}, *const whole[] = {
                                                                        "lineage", NULL};
    size_t out_len = 0;
    char *csv = hush__csv_table(doc, "rows", leads, whole, &out_len);
    if (csv == NULL) {
        abort(); /* only out of memory may fail */
    }
    const json_t *rows = json_object_get(doc, "rows");
    size_t records = 0;
    bool quoted = false;
    for (size_t i = 0; i < out_len; i++) {
        if (csv[i] == '"') {
            quoted = !quoted; /* a doubled quote flips twice */
        } else if (!quoted && csv[i] == '\r') {
            if (i + 1 >= out_len || csv[i + 1] != '\n') {
                abort(); /* a bare CR outside quotes */
            }
            records++;
        }
    }
    if (quoted || records != 1 + json_array_size(rows)) {
        abort();
    }
    hush_free(csv);
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL) {
        return 0;
    }
    memcpy(s, data, size);
    s[size] = '\0';
    enum hush__format f;
    if (!hush__choose_format(NULL, s, &f) ||
        (f != HUSH__FORMAT_JSON && f != HUSH__FORMAT_CSV)) {
        abort(); /* Accept alone never fails */
    }
    (void)hush__choose_format(s, NULL, &f);
    (void)hush__accepts_gzip(s);
    if (!hush__etag_listed("*", s) && strlen(s) > 0) {
        abort();
    }
    (void)hush__etag_listed(s, "\"0a1b.2.json\"");
    (void)hush__origin_allowed(s, "https://dash.example");
    (void)hush__origin_allowed("https://dash.example, http://localhost:3000", s);
    check_csv(s, strlen(s));
    free(s);
    return 0;
}
