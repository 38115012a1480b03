/*
 * test_matrix.c - float32 and int8 matrices: quantization error bound, file
 * and base64 round trips, corrupt input.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <xxhash.h>

#include "hush_embed.h"
#include "hush_privacy.h"

static hush_matrix *random_matrix(hush_matrix_type type, uint32_t rows, uint32_t cols,
                                  uint64_t seed)
{
    hush_matrix *m = NULL;
    hush_rng *rng = NULL;
    cr_assert_eq(hush_matrix_new(type, rows, cols, &m, NULL), 0);
    cr_assert_eq(hush_rng_new_seeded_u64(seed, &rng), 0);
    float *v = malloc(cols * sizeof *v);
    for (uint32_t r = 0; r < rows; r++) {
        for (uint32_t c = 0; c < cols; c++) {
            v[c] = (float)(hush_rng_unit(rng) * 2.0 - 1.0) * (float)(r + 1);
        }
        cr_assert_eq(hush_matrix_set_row(m, r, v, cols, NULL), 0);
    }
    free(v);
    hush_rng_free(rng);
    return m;
}

Test(matrix, quantization_error_is_at_most_half_a_step)
{
    hush_matrix *f = random_matrix(HUSH_MATRIX_F32, 50, 77, 1);
    hush_matrix *q = NULL;
    cr_assert_eq(hush_matrix_quantize(f, &q, NULL), 0);
    float back[77];
    for (uint32_t r = 0; r < 50; r++) {
        const float *x = hush_matrix_crow_f32(f, r);
        hush_matrix_get_row(q, r, back);
        float s = hush_matrix_scale(q, r);
        float maxabs = 0;
        for (uint32_t c = 0; c < 77; c++) {
            maxabs = fabsf(x[c]) > maxabs ? fabsf(x[c]) : maxabs;
        }
        cr_assert_float_eq(s, maxabs / 127.0f, 1e-6f * maxabs);
        for (uint32_t c = 0; c < 77; c++) {
            cr_assert_leq(fabsf(back[c] - x[c]), s / 2 * (1 + 1e-5f) + 1e-7f,
                          "row %u col %u: %g vs %g (scale %g)", r, c, back[c], x[c], s);
        }
    }
    hush_matrix_free(f);
    hush_matrix_free(q);
}

Test(matrix, round_trips)
{
    for (int type = HUSH_MATRIX_F32; type <= HUSH_MATRIX_I8; type++) {
        hush_matrix *m = random_matrix((hush_matrix_type)type, 13, 70, 2);
        uint8_t *buf = NULL;
        size_t len = 0;
        cr_assert_eq(hush_matrix_serialize(m, &buf, &len, NULL), 0);
        hush_matrix *back = NULL;
        cr_assert_eq(hush_matrix_deserialize(buf, len, &back, NULL), 0);
        uint8_t *buf2 = NULL;
        size_t len2 = 0;
        cr_assert_eq(hush_matrix_serialize(back, &buf2, &len2, NULL), 0);
        cr_assert_eq(len, len2);
        cr_assert_arr_eq(buf, buf2, len);
        char *b64 = NULL;
        cr_assert_eq(hush_matrix_to_base64(m, &b64, NULL), 0);
        hush_matrix *from64 = NULL;
        cr_assert_eq(hush_matrix_from_base64(b64, strlen(b64), &from64, NULL), 0);
        cr_assert_eq(hush_matrix_rows(from64), 13);
        cr_assert_eq(hush_matrix_cols(from64), 70);
        char path[] = "/tmp/hush-matrix-XXXXXX";
        int fd = mkstemp(path);
        cr_assert_geq(fd, 0);
        close(fd);
        cr_assert_eq(hush_matrix_save(m, path, NULL), 0);
        hush_matrix *loaded = NULL;
        cr_assert_eq(hush_matrix_load(path, &loaded, NULL), 0);
        float a[70], b[70];
        for (uint32_t r = 0; r < 13; r++) {
            hush_matrix_get_row(m, r, a);
            hush_matrix_get_row(loaded, r, b);
            cr_assert_arr_eq(a, b, sizeof a);
        }
        unlink(path);
        hush_free(b64);
        hush_free(buf);
        hush_free(buf2);
        hush_matrix_free(m);
        hush_matrix_free(back);
        hush_matrix_free(from64);
        hush_matrix_free(loaded);
    }
}

Test(matrix, corrupt_input_is_refused)
{
    hush_matrix *m = random_matrix(HUSH_MATRIX_I8, 4, 9, 3);
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(hush_matrix_serialize(m, &buf, &len, NULL), 0);
    hush_matrix *out = NULL;
    for (size_t cut = 0; cut < len; cut++) {
        cr_assert_neq(hush_matrix_deserialize(buf, cut, &out, NULL), 0, "cut at %zu",
                      cut);
        cr_assert_null(out);
    }
    for (size_t i = 0; i < len; i++) {
        buf[i] ^= 0x10;
        cr_assert_neq(hush_matrix_deserialize(buf, len, &out, NULL), 0, "byte %zu", i);
        buf[i] ^= 0x10;
    }
    /* a valid checksum over impossible content: -128 and a zero scale */
    buf[24 + 4 * 4] = 0x80;
    hush_store_le64(buf + len - 8, XXH3_64bits(buf, len - 8));
    hush_err err = {0};
    cr_assert_eq(hush_matrix_deserialize(buf, len, &out, &err), HUSH_ECORRUPT);
    cr_assert(strstr(err.msg, "-128") != NULL, "%s", err.msg);
    /* a shape that would not fit the cap */
    hush_store_le32(buf + 16, 0x7fffffff);
    hush_store_le64(buf + len - 8, XXH3_64bits(buf, len - 8));
    cr_assert_eq(hush_matrix_deserialize(buf, len, &out, NULL), HUSH_ECORRUPT);
    cr_assert_eq(hush_matrix_from_base64("!!not base64!!", 14, &out, NULL), HUSH_EINVAL);
    cr_assert_eq(hush_matrix_load("/nonexistent/m.mat", &out, &err), HUSH_EIO);
    hush_free(buf);
    hush_matrix_free(m);
}

Test(matrix, bad_arguments)
{
    hush_matrix *m = NULL;
    cr_assert_eq(hush_matrix_new(HUSH_MATRIX_F32, 10, 0, &m, NULL), HUSH_EINVAL);
    cr_assert_eq(hush_matrix_new((hush_matrix_type)3, 10, 10, &m, NULL), HUSH_EINVAL);
    cr_assert_eq(hush_matrix_new(HUSH_MATRIX_F32, 1u << 20, 1u << 10, &m, NULL),
                 HUSH_ETOOBIG);
    cr_assert_eq(hush_matrix_new(HUSH_MATRIX_F32, 2, 3, &m, NULL), 0);
    float v[3] = {1, NAN, 0};
    cr_assert_eq(hush_matrix_set_row(m, 0, v, 3, NULL), HUSH_EINVAL);
    v[1] = 2;
    cr_assert_eq(hush_matrix_set_row(m, 2, v, 3, NULL), HUSH_EINVAL);
    cr_assert_eq(hush_matrix_set_row(m, 1, v, 2, NULL), HUSH_EINVAL);
    hush_matrix *q = NULL;
    cr_assert_eq(hush_matrix_quantize(m, &q, NULL), 0);
    hush_matrix *qq = NULL;
    cr_assert_eq(hush_matrix_quantize(q, &qq, NULL), HUSH_EINVAL);
    hush_matrix_free(q);
    hush_matrix_free(m);
}
