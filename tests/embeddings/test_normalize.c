/*
 * test_normalize.c - the text normalization every embedder applies: case
 * folding, separators, apostrophes, and invalid UTF-8 that is replaced and
 * never read past.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "embed_internal.h"

static void expect_norm(const char *in, size_t len, const char *want)
{
    char *out = NULL;
    size_t olen = 0;
    hush_err err = {0};
    cr_assert_eq(hush_text_normalize(in, len, &out, &olen, &err), 0, "%s", err.msg);
    cr_assert_eq(olen, strlen(want), "\"%s\" -> \"%s\", want \"%s\"", in, out, want);
    cr_assert_str_eq(out, want);
    hush_free(out);
}

#define NORM(in, want) expect_norm(in, sizeof(in) - 1, want)

Test(normalize, case_whitespace_and_punctuation)
{
    NORM("Hello,   World!", "hello world");
    NORM("  leading and trailing  ", "leading and trailing");
    NORM("tabs\tand\nnewlines\r\n", "tabs and newlines");
    NORM("e-mail: a.b@c.d", "e mail a b c d");
    NORM("100% FREE!!!", "100 free");
    NORM("", "");
    NORM("...,;:!?", "");
}

Test(normalize, apostrophes_inside_words_are_dropped)
{
    NORM("Don't stop", "dont stop");
    NORM("it\xe2\x80\x99s fine", "its fine"); /* U+2019 */
    NORM("'quoted'", "quoted");
    NORM("rock 'n' roll", "rock n roll");
}

Test(normalize, unicode_letters_fold)
{
    NORM("\xc3\x89T\xc3\x89 \xc3\x80 PARIS",
         "\xc3\xa9t\xc3\xa9 \xc3\xa0 paris"); /* ÉTÉ À */
    NORM("\xce\x91\xce\x98\xce\x97\xce\x9d\xce\x91",
         "\xce\xb1\xce\xb8\xce\xb7\xce\xbd\xce\xb1"); /* ΑΘΗΝΑ */
    NORM("\xd0\x9c\xd0\x9e\xd0\xa1\xd0\x9a\xd0\x92\xd0\x90",
         "\xd0\xbc\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0"); /* МОСКВА */
    NORM("\xc5\x81\xc3\xb3"
         "d\xc5\xba",
         "\xc5\x82\xc3\xb3"
         "d\xc5\xba"); /* Łódź */
    NORM("caf\xc3\xa9\xe2\x80\x94"
         "bar",
         "caf\xc3\xa9 bar");                /* em dash */
    NORM("\xf0\x9f\x98\x80smile", "smile"); /* emoji */
}

Test(normalize, invalid_utf8_is_replaced_never_read_past)
{
    NORM("ab\xff"
         "cd",
         "ab cd"); /* invalid byte separates */
    NORM("ab\xc0\xaf"
         "cd",
         "ab cd"); /* overlong '/' */
    NORM("ab\xed\xa0\x80"
         "cd",
         "ab cd"); /* surrogate */
    NORM("ab\xf4\x90\x80\x80"
         "cd",
         "ab cd"); /* beyond U+10FFFF */
    NORM("ab\x80\x80"
         "cd",
         "ab cd"); /* stray continuations */
    /* a sequence truncated by the end of the buffer: the decoder must stop
     * at len even when the byte after it would complete the sequence */
    const char buf[] = "abc\xe2\x82\xac";
    expect_norm(buf, 5, "abc");
    expect_norm(buf, 4, "abc");
    /* NUL bytes are separators, and the length is respected past them */
    expect_norm("a\0b", 3, "a b");
}

Test(normalize, output_is_valid_utf8_for_random_bytes)
{
    unsigned state = 12345;
    for (int round = 0; round < 2000; round++) {
        char in[64];
        size_t len = (size_t)(round % 64);
        for (size_t i = 0; i < len; i++) {
            state = state * 1103515245u + 12345u;
            in[i] = (char)(state >> 16);
        }
        char *out = NULL;
        size_t olen = 0;
        cr_assert_eq(hush_text_normalize(in, len, &out, &olen, NULL), 0);
        cr_assert_eq(strlen(out), olen, "no NUL inside the output");
        for (size_t i = 0; i < olen;) {
            size_t used;
            uint32_t cp = hush__utf8_decode((const uint8_t *)out + i, olen - i, &used);
            cr_assert_neq(cp, HUSH_REPLACEMENT, "output must be valid UTF-8");
            cr_assert(i + used <= olen);
            i += used;
        }
        cr_assert(olen == 0 || (out[0] != ' ' && out[olen - 1] != ' '));
        cr_assert_null(strstr(out, "  "));
        hush_free(out);
    }
}

Test(normalize, oversized_text_is_refused)
{
    size_t len = HUSH_EMBED_TEXT_MAX + 1;
    char *big = malloc(len);
    cr_assert_not_null(big);
    memset(big, 'a', len);
    char *out = NULL;
    size_t olen = 0;
    hush_err err = {0};
    cr_assert_eq(hush_text_normalize(big, len, &out, &olen, &err), HUSH_ETOOBIG);
    cr_assert_null(out);
    cr_assert(strstr(err.msg, "exceeds") != NULL, "%s", err.msg);
    free(big);
}

Test(normalize, sublinear_table_is_the_deterministic_log)
{
    for (uint64_t tf = 1; tf < 256; tf++) {
        double want = 1.0 + hush__det_log((double)tf);
        cr_assert_eq(hush__sublinear(tf), want, "tf %llu: %a vs %a",
                     (unsigned long long)tf, hush__sublinear(tf), want);
    }
    cr_assert_eq(hush__sublinear(1000), 1.0 + hush__det_log(1000.0));
}

Test(normalize, deterministic_log)
{
    /* ln via + - * / only: within one ulp or two of libm, and exact at 1 */
    cr_assert_eq(hush__det_log(1.0), 0.0);
    for (double x = 1.0; x < 1e6; x *= 1.37) {
        cr_assert_float_eq(hush__det_log(x), log(x), 4e-16 * (1 + log(x)), "x = %g", x);
    }
}
