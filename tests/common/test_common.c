/*
 * test_common.c - error codes and details, checked parsing, the allocator.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "hush_common.h"

Test(common, every_error_code_has_its_own_text)
{
    int codes[] = {
#define CODE(name, value, text) value,
        HUSH_ERRNO_MAP(CODE)
#undef CODE
    };
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        const char *a = hush_strerror(codes[i]);
        cr_assert_not_null(a);
        cr_assert(strcmp(a, "unknown error") != 0);
        for (size_t j = i + 1; j < n; j++) {
            cr_assert(strcmp(a, hush_strerror(codes[j])) != 0);
            cr_assert_neq(codes[i], codes[j]);
        }
        cr_assert(codes[i] <= 0);
    }
    cr_assert_str_eq(hush_strerror(-999), "unknown error");
}

Test(common, first_error_wins)
{
    hush_err err = {0};
    cr_assert_eq(hush_err_set(&err, HUSH_EINVAL, "first %d", 1), HUSH_EINVAL);
    cr_assert_eq(hush_err_set(&err, HUSH_ENOMEM, "second"), HUSH_ENOMEM);
    cr_assert_eq(err.code, HUSH_EINVAL);
    cr_assert_str_eq(err.msg, "first 1");
    hush_err_clear(&err);
    cr_assert_eq(err.code, 0);
    cr_assert_eq(hush_err_set(NULL, HUSH_EIO, "nowhere"), HUSH_EIO);
    /* long messages are cut, never overflow */
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    hush_err_set(&err, HUSH_EINVAL, "%s", big);
    cr_assert_eq(strlen(err.msg), HUSH_ERR_MSG_MAX - 1);
}

Test(common, parse_u64)
{
    uint64_t v = 0;
    hush_err err = {0};
    cr_assert_eq(hush_parse_u64("42", 0, 100, "n", &v, NULL), 0);
    cr_assert_eq(v, 42);
    cr_assert_eq(hush_parse_u64("18446744073709551615", 0, UINT64_MAX, "n", &v, NULL), 0);
    cr_assert_eq(v, UINT64_MAX);
    cr_assert_eq(hush_parse_u64("18446744073709551616", 0, UINT64_MAX, "n", &v, NULL),
                 HUSH_ERANGE);
    cr_assert_eq(hush_parse_u64("-1", 0, 100, "n", &v, &err), HUSH_EINVAL);
    cr_assert(strstr(err.msg, "n must be") && strstr(err.msg, "-1"), "%s", err.msg);
    cr_assert_eq(hush_parse_u64(" 1", 0, 100, "n", &v, NULL), HUSH_EINVAL);
    cr_assert_eq(hush_parse_u64("1x", 0, 100, "n", &v, NULL), HUSH_EINVAL);
    cr_assert_eq(hush_parse_u64("", 0, 100, "n", &v, NULL), HUSH_EINVAL);
    cr_assert_eq(hush_parse_u64(NULL, 0, 100, "n", &v, NULL), HUSH_EINVAL);
    hush_err_clear(&err);
    cr_assert_eq(hush_parse_u64("101", 0, 100, "domain", &v, &err), HUSH_ERANGE);
    cr_assert(strstr(err.msg, "domain must be in [0, 100] (got 101)"), "%s", err.msg);
}

Test(common, parse_double)
{
    double v = 0;
    cr_assert_eq(hush_parse_double("0.5", 0, 10, "eps", &v, NULL), 0);
    cr_assert_float_eq(v, 0.5, 0);
    cr_assert_eq(hush_parse_double("1e-3", 0, 10, "eps", &v, NULL), 0);
    cr_assert_eq(hush_parse_double("nan", 0, 10, "eps", &v, NULL), HUSH_EINVAL);
    cr_assert_eq(hush_parse_double("inf", 0, 10, "eps", &v, NULL), HUSH_ERANGE);
    cr_assert_eq(hush_parse_double("inf", 0, INFINITY, "eps", &v, NULL), 0);
    cr_assert_eq(hush_parse_double("11", 0, 10, "eps", &v, NULL), HUSH_ERANGE);
    cr_assert_eq(hush_parse_double("1.0.0", 0, 10, "eps", &v, NULL), HUSH_EINVAL);
    cr_assert_eq(hush_parse_double(" 1", 0, 10, "eps", &v, NULL), HUSH_EINVAL);
    cr_assert_eq(hush_parse_double("", 0, 10, "eps", &v, NULL), HUSH_EINVAL);
}

static int calls;
static void *counting_malloc(size_t n)
{
    calls++;
    return malloc(n);
}

Test(common, allocator_is_replaceable_and_checks_overflow)
{
    hush_set_allocator(counting_malloc, NULL, NULL);
    void *p = hush_malloc(10);
    cr_assert_not_null(p);
    cr_assert_eq(calls, 1);
    hush_free(p);
    cr_assert_null(hush_calloc(SIZE_MAX / 2, 3), "n * size overflow must fail");
    char *s = hush_strdup("abc");
    cr_assert_str_eq(s, "abc");
    hush_free(s);
    hush_free(NULL);
    void *z = hush_malloc(0);
    cr_assert_not_null(z);
    hush_free(z);
    hush_set_allocator(NULL, NULL, NULL);
    size_t out;
    cr_assert(!hush_size_mul(SIZE_MAX, 2, &out));
    cr_assert(hush_size_mul(3, 4, &out) && out == 12);
    cr_assert(!hush_size_add(SIZE_MAX, 1, &out));
    cr_assert_eq(hush_global_init(), 0);
    cr_assert_eq(hush_global_init(), 0);
}

Test(common, little_endian_helpers)
{
    uint8_t b[8];
    hush_store_le64(b, UINT64_C(0x0102030405060708));
    cr_assert_eq(b[0], 0x08);
    cr_assert_eq(b[7], 0x01);
    cr_assert_eq(hush_load_le64(b), UINT64_C(0x0102030405060708));
    hush_store_le32(b, 0xdeadbeef);
    cr_assert_eq(b[0], 0xef);
    cr_assert_eq(hush_load_le32(b), 0xdeadbeef);
    cr_assert_float_eq(hush_bits_double(hush_double_bits(-2.5)), -2.5, 0);
}
