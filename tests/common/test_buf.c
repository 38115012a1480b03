/*
 * test_buf.c - the capped growable buffer: growth, the cap, failure that
 * frees and sticks, every allocation failure reported and leak-free.
 */
#include <criterion/criterion.h>
#include <stdio.h>

#include "alloc_fail.h"
#include "hush_buf.h"

Test(buf, grows_past_its_first_block_and_stays_terminated)
{
    hush__buf b;
    hush__buf_init(&b, 1 << 20);
    for (int i = 0; i < 10000; i++) {
        cr_assert_eq(hush__buf_addf(&b, "%d,", i % 10), 0);
    }
    cr_assert_eq(b.len, 20000);
    cr_assert_eq(b.data[b.len], '\0');
    cr_assert_eq(strncmp(b.data, "0,1,2,", 6), 0);
    size_t len = 0;
    char *s = hush__buf_take(&b, &len);
    cr_assert_eq(len, 20000);
    cr_assert_eq(strlen(s), 20000);
    cr_assert_null(b.data);
    hush_free(s);
}

Test(buf, a_formatted_append_longer_than_the_scratch_space)
{
    hush__buf b;
    hush__buf_init(&b, 1 << 20);
    char word[1000];
    memset(word, 'x', sizeof word - 1);
    word[sizeof word - 1] = '\0';
    cr_assert_eq(hush__buf_addf(&b, "<%s>", word), 0);
    cr_assert_eq(b.len, 1001);
    cr_assert_eq(b.data[0], '<');
    cr_assert_eq(b.data[1000], '>');
    hush__buf_free(&b);
}

Test(buf, the_cap_is_exact_and_a_failure_frees_and_sticks)
{
    hush__buf b;
    hush__buf_init(&b, 10);
    cr_assert_eq(hush__buf_add(&b, "0123456789", 10), 0); /* exactly the cap */
    cr_assert_eq(hush__buf_add(&b, "x", 1), HUSH_ETOOBIG);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(hush__buf_error(&b), HUSH_ETOOBIG);
    /* later appends fail the same way, even small ones */
    cr_assert_eq(hush__buf_adds(&b, ""), HUSH_ETOOBIG);
    cr_assert_eq(hush__buf_addf(&b, "%d", 1), HUSH_ETOOBIG);
    cr_assert_null(hush__buf_take(&b, NULL));
    /* freeing resets it for reuse */
    hush__buf_free(&b);
    cr_assert_eq(hush__buf_error(&b), 0);
    cr_assert_eq(hush__buf_adds(&b, "ok"), 0);
    hush__buf_free(&b);
}

Test(buf, an_append_whose_size_overflows_is_too_big)
{
    hush__buf b;
    hush__buf_init(&b, SIZE_MAX);
    cr_assert_eq(hush__buf_add(&b, "ab", 2), 0);
    cr_assert_eq(hush__buf_add(&b, "", SIZE_MAX), HUSH_ETOOBIG);
    cr_assert_null(b.data);
}

Test(buf, taking_an_empty_buffer_gives_an_empty_string)
{
    hush__buf b;
    hush__buf_init(&b, 4);
    size_t len = 7;
    char *s = hush__buf_take(&b, &len);
    cr_assert_not_null(s);
    cr_assert_eq(len, 0);
    cr_assert_str_eq(s, "");
    hush_free(s);
}

struct fill {
    char *out;
};

static int fill_op(void *ctx)
{
    struct fill *f = ctx;
    hush__buf b;
    hush__buf_init(&b, 1 << 16);
    for (int i = 0; i < 2000; i++) {
        hush__buf_addf(&b, "line %d\n", i);
    }
    if (hush__buf_error(&b) != 0) {
        return hush__buf_error(&b); /* nothing to free: the buffer did */
    }
    f->out = hush__buf_take(&b, NULL);
    return f->out != NULL ? 0 : HUSH_ENOMEM;
}

static void fill_cleanup(void *ctx)
{
    struct fill *f = ctx;
    hush_free(f->out);
    f->out = NULL;
}

Test(buf, every_allocation_failure_is_enomem_and_leaks_nothing)
{
    struct fill f = {NULL};
    long n = alloc_fail_sweep(fill_op, fill_cleanup, &f);
    cr_assert_gt(n, 3); /* it grew several times */
}

Test(buf, a_failure_carried_over_sticks_and_no_failure_changes_nothing)
{
    hush__buf a, b;
    hush__buf_init(&a, 2);
    hush__buf_init(&b, 100);
    cr_assert_eq(hush__buf_adds(&b, "kept"), 0);
    hush__buf_fail(&b, hush__buf_error(&a)); /* a has not failed: nothing */
    cr_assert_str_eq(b.data, "kept");
    cr_assert_eq(hush__buf_adds(&a, "too long"), HUSH_ETOOBIG);
    hush__buf_fail(&b, hush__buf_error(&a));
    cr_assert_eq(hush__buf_error(&b), HUSH_ETOOBIG);
    cr_assert_null(b.data);
    hush__buf_fail(&b, HUSH_ENOMEM);
    cr_assert_eq(hush__buf_error(&b), HUSH_ETOOBIG, "the first failure is kept");
}

Test(buf, reserving_allocates_once_for_a_known_size)
{
    hush__buf b;
    hush__buf_init(&b, 1 << 20);
    cr_assert_eq(hush__buf_reserve(&b, 5000), 0);
    size_t cap = b.cap;
    cr_assert_geq(cap, 5001);
    for (int i = 0; i < 50; i++) {
        cr_assert_eq(hush__buf_add(&b, "0123456789", 10), 0);
    }
    cr_assert_eq(b.cap, cap, "no growth within what was reserved");
    cr_assert_eq(hush__buf_reserve(&b, 1 << 21), HUSH_ETOOBIG);
    hush__buf_free(&b);
}
