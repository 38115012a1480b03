/*
 * test_json.c - JSON through jansson under allocation failure: text that
 * is written is whole, and a parse that ran out of memory says so.
 */
#include <criterion/criterion.h>

#include "alloc_fail.h"
#include "hush_json.h"

static json_t *sample(void)
{
    return json_pack("{s:s, s:i, s:[i, i], s:{s:f, s:s}, s:b, s:s}", "kind", "hashed",
                     "version", 1, "word_ngrams", 1, 2, "weights", "word", 0.5, "note",
                     "a \"quoted\" text", "sublinear_tf", 1, "checksum",
                     "b3f37960c6a20087");
}

/* jansson 2.14's json_dumps returns corrupt text (a key without its
 * closing quote) when one allocation fails at the wrong moment; every
 * text hush__json_dumps returns must read back as the same document. */
Test(json, dumps_under_allocation_failure_is_whole_or_null)
{
    json_t *doc = sample();
    cr_assert_not_null(doc);
    long nulls = 0, whole = 0;
    for (long k = 1; k < 200; k++) {
        alloc_fail_install(k);
        char *s = hush__json_dumps(doc, JSON_COMPACT, NULL);
        long made = alloc_fail_calls();
        alloc_fail_uninstall();
        if (s == NULL) {
            nulls++;
            continue;
        }
        json_t *back = json_loads(s, 0, NULL);
        cr_assert_not_null(back, "allocation %ld failed and the text is corrupt: %s", k,
                           s);
        cr_assert(json_equal(doc, back));
        json_decref(back);
        hush_free(s);
        whole++;
        if (made < k) {
            break; /* no allocation failed: every later run is the same */
        }
    }
    cr_assert_gt(nulls, 0, "some allocation must have failed");
    cr_assert_gt(whole, 0);
    json_decref(doc);
}

struct parse {
    json_t *doc;
    char *text;
};

static int parse_op(void *ctx)
{
    struct parse *p = ctx;
    int code = 0;
    json_error_t jerr;
    p->doc =
        hush__json_loadb(p->text, strlen(p->text), JSON_REJECT_DUPLICATES, &jerr, &code);
    return p->doc != NULL ? 0 : code;
}

static void parse_cleanup(void *ctx)
{
    struct parse *p = ctx;
    json_decref(p->doc);
    p->doc = NULL;
}

/* jansson reports a failed allocation in a parse as a syntax error (or
 * goes on with part of the document): each one must come out HUSH_ENOMEM,
 * never HUSH_EINVAL. */
Test(json, a_parse_that_runs_out_of_memory_is_enomem)
{
    json_t *doc = sample();
    struct parse p = {NULL, json_dumps(doc, JSON_COMPACT)};
    json_decref(doc);
    long n = alloc_fail_sweep(parse_op, parse_cleanup, &p);
    cr_assert_gt(n, 10);
    hush_free(p.text);
}

Test(json, bad_input_is_einval)
{
    int code = 0;
    json_error_t jerr;
    cr_assert_null(hush__json_loadb("{\"a\":", 5, 0, &jerr, &code));
    cr_assert_eq(code, HUSH_EINVAL);
    cr_assert_null(
        hush__json_loadb("{\"a\":1,\"a\":2}", 13, JSON_REJECT_DUPLICATES, &jerr, &code));
    cr_assert_eq(code, HUSH_EINVAL);
}
