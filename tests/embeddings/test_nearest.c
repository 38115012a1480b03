/*
 * test_nearest.c - exact nearest-neighbour search equals brute force, on
 * int8 and float32 data; top-k order, ties, thresholds, bad arguments.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "hush_embed.h"
#include "hush_privacy.h"

static hush_matrix *random_unit(hush_matrix_type type, uint32_t rows, uint32_t cols,
                                uint64_t seed)
{
    hush_matrix *m = NULL;
    hush_rng *rng = NULL;
    cr_assert_eq(hush_matrix_new(type, rows, cols, &m, NULL), 0);
    cr_assert_eq(hush_rng_new_seeded_u64(seed, &rng), 0);
    float *v = malloc(cols * sizeof *v);
    for (uint32_t r = 0; r < rows; r++) {
        double ss = 0;
        for (uint32_t c = 0; c < cols; c++) {
            v[c] = (float)(hush_rng_unit(rng) - 0.5);
            ss += (double)v[c] * v[c];
        }
        for (uint32_t c = 0; c < cols; c++) {
            v[c] = (float)(v[c] / sqrt(ss));
        }
        cr_assert_eq(hush_matrix_set_row(m, r, v, cols, NULL), 0);
    }
    free(v);
    hush_rng_free(rng);
    return m;
}

/* The reference similarity for int8 rows: the integer dot product over the
 * int8 norms, evaluated in the documented order. */
static float ref_sim_i8(const hush_matrix *a, uint32_t i, const hush_matrix *b,
                        uint32_t j)
{
    const int8_t *x = hush_matrix_row_i8(a, i), *y = hush_matrix_row_i8(b, j);
    int64_t dot = 0, nx = 0, ny = 0;
    for (uint32_t c = 0; c < hush_matrix_cols(a); c++) {
        dot += (int32_t)x[c] * y[c];
        nx += (int32_t)x[c] * x[c];
        ny += (int32_t)y[c] * y[c];
    }
    float inv_c = ny > 0 ? 1.0f / (float)sqrt((double)ny) : 0.0f;
    float inv_q = nx > 0 ? 1.0f / (float)sqrt((double)nx) : 0.0f;
    return ((float)dot * inv_c) * inv_q;
}

static void brute_topk(const hush_matrix *cand, const hush_matrix *q, uint32_t qi,
                       size_t k, float threshold, hush_match *out)
{
    for (size_t i = 0; i < k; i++) {
        out[i] = (hush_match){HUSH_MATCH_NONE, 0.0f};
    }
    for (uint32_t c = 0; c < hush_matrix_rows(cand); c++) {
        float s = ref_sim_i8(q, qi, cand, c);
        if (s < threshold) {
            continue;
        }
        /* insertion with ties to the lower index */
        size_t pos = k;
        while (pos > 0 &&
               (out[pos - 1].index == HUSH_MATCH_NONE || out[pos - 1].similarity < s)) {
            pos--;
        }
        if (pos < k) {
            memmove(out + pos + 1, out + pos, (k - pos - 1) * sizeof *out);
            out[pos] = (hush_match){c, s};
        }
    }
}

Test(nearest, int8_equals_brute_force)
{
    /* sizes that are not multiples of the kernel's blocks */
    uint32_t dims[] = {8, 100, 256};
    for (size_t d = 0; d < 3; d++) {
        hush_matrix *cf = random_unit(HUSH_MATRIX_F32, 1500, dims[d], 10 + d);
        hush_matrix *qf = random_unit(HUSH_MATRIX_F32, 21, dims[d], 20 + d);
        hush_matrix *c = NULL, *q = NULL;
        cr_assert_eq(hush_matrix_quantize(cf, &c, NULL), 0);
        cr_assert_eq(hush_matrix_quantize(qf, &q, NULL), 0);
        const size_t k = 7;
        hush_match got[21 * 7], want[7];
        float thresholds[] = {-1.0f, 0.1f};
        for (int t = 0; t < 2; t++) {
            cr_assert_eq(hush_nearest(c, q, k, thresholds[t], got, 21 * k, NULL), 0);
            for (uint32_t i = 0; i < 21; i++) {
                brute_topk(c, q, i, k, thresholds[t], want);
                for (size_t j = 0; j < k; j++) {
                    cr_assert_eq(got[i * k + j].index, want[j].index,
                                 "dim %u query %u rank %zu: %u vs %u", dims[d], i, j,
                                 got[i * k + j].index, want[j].index);
                    cr_assert_eq(got[i * k + j].similarity, want[j].similarity);
                }
            }
        }
        /* int8 agrees with the exact float search up to quantization: the
         * int8 winner's float similarity is within 0.02 of the float best */
        hush_match fbest[21], ibest[21];
        cr_assert_eq(hush_nearest(cf, qf, 1, -1.0f, fbest, 21, NULL), 0);
        cr_assert_eq(hush_nearest(c, q, 1, -1.0f, ibest, 21, NULL), 0);
        for (uint32_t i = 0; i < 21; i++) {
            const float *x = hush_matrix_crow_f32(qf, i);
            const float *y = hush_matrix_crow_f32(cf, ibest[i].index);
            double s = 0;
            for (uint32_t z = 0; z < dims[d]; z++) {
                s += (double)x[z] * y[z];
            }
            cr_assert_geq(s, fbest[i].similarity - 0.02, "query %u", i);
            cr_assert_float_eq(ibest[i].similarity, s, 0.02);
        }
        hush_matrix_free(cf);
        hush_matrix_free(qf);
        hush_matrix_free(c);
        hush_matrix_free(q);
    }
}

Test(nearest, float_equals_brute_force)
{
    hush_matrix *c = random_unit(HUSH_MATRIX_F32, 300, 33, 1);
    hush_matrix *q = random_unit(HUSH_MATRIX_F32, 5, 33, 2);
    hush_match got[5 * 3];
    cr_assert_eq(hush_nearest(c, q, 3, -1.0f, got, 15, NULL), 0);
    for (uint32_t i = 0; i < 5; i++) {
        const float *x = hush_matrix_crow_f32(q, i);
        double best = -2;
        uint32_t arg = 0;
        for (uint32_t j = 0; j < 300; j++) {
            const float *y = hush_matrix_crow_f32(c, j);
            double s = 0, nx = 0, ny = 0;
            for (int z = 0; z < 33; z++) {
                s += (double)x[z] * y[z];
                nx += (double)x[z] * x[z];
                ny += (double)y[z] * y[z];
            }
            s /= sqrt(nx) * sqrt(ny);
            if (s > best) {
                best = s;
                arg = j;
            }
        }
        cr_assert_eq(got[i * 3].index, arg);
        cr_assert_float_eq(got[i * 3].similarity, best, 1e-6);
        cr_assert_geq(got[i * 3].similarity, got[i * 3 + 1].similarity);
        cr_assert_geq(got[i * 3 + 1].similarity, got[i * 3 + 2].similarity);
    }
    hush_matrix_free(c);
    hush_matrix_free(q);
}

Test(nearest, ties_thresholds_and_zero_rows)
{
    hush_matrix *c = NULL, *q = NULL;
    cr_assert_eq(hush_matrix_new(HUSH_MATRIX_I8, 4, 2, &c, NULL), 0);
    cr_assert_eq(hush_matrix_new(HUSH_MATRIX_I8, 2, 2, &q, NULL), 0);
    float rows[4][2] = {{0, 1}, {1, 0}, {0, 0}, {1, 0}};
    for (uint32_t r = 0; r < 4; r++) {
        cr_assert_eq(hush_matrix_set_row(c, r, rows[r], 2, NULL), 0);
    }
    float x[2] = {1, 0}, zero[2] = {0, 0};
    cr_assert_eq(hush_matrix_set_row(q, 0, x, 2, NULL), 0);
    cr_assert_eq(hush_matrix_set_row(q, 1, zero, 2, NULL), 0);
    hush_match out[2 * 3];
    cr_assert_eq(hush_nearest(c, q, 3, 0.5f, out, 6, NULL), 0);
    /* rows 1 and 3 tie at 1.0: lower index first; nothing else passes 0.5 */
    cr_assert_eq(out[0].index, 1);
    cr_assert_eq(out[1].index, 3);
    cr_assert_eq(out[2].index, HUSH_MATCH_NONE);
    cr_assert_float_eq(out[0].similarity, 1.0f, 1e-6);
    /* a zero query matches nothing above 0.5 */
    cr_assert_eq(out[3].index, HUSH_MATCH_NONE);
    hush_matrix_free(c);
    hush_matrix_free(q);
}

Test(nearest, bad_arguments)
{
    hush_matrix *a = random_unit(HUSH_MATRIX_F32, 3, 4, 1);
    hush_matrix *b = random_unit(HUSH_MATRIX_F32, 2, 5, 2);
    hush_matrix *ai = NULL;
    cr_assert_eq(hush_matrix_quantize(a, &ai, NULL), 0);
    hush_match out[8];
    hush_err err = {0};
    cr_assert_eq(hush_nearest(a, b, 1, 0, out, 8, &err), HUSH_EINVAL);
    cr_assert(strstr(err.msg, "columns") != NULL, "%s", err.msg);
    cr_assert_eq(hush_nearest(ai, a, 1, 0, out, 8, NULL), HUSH_EINVAL);
    cr_assert_eq(hush_nearest(a, a, 0, 0, out, 8, NULL), HUSH_ERANGE);
    cr_assert_eq(hush_nearest(a, a, 3, 0, out, 8, NULL), HUSH_EINVAL, "9 > 8 slots");
    cr_assert_eq(hush_nearest(a, a, 1, NAN, out, 8, NULL), HUSH_EINVAL);
    hush_matrix_free(a);
    hush_matrix_free(b);
    hush_matrix_free(ai);
}
