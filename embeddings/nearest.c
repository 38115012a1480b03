/*
 * nearest.c - exact nearest-neighbour search by cosine similarity.
 *
 * int8 path: queries are taken QB at a time and widened to int16 once; the
 * kernel then walks the candidates, each loaded once per query block, and
 * computes QB integer dot products in one pass over the dimensions.  The
 * loop is plain C that GCC vectorizes (checked with -fopt-info-vec: 64-byte
 * vectors on x86-64-v4, where it becomes vpmaddwd/vpdpwssd; 32-byte on v3),
 * and rows are padded with zeros to a multiple of 64 so no remainder loop is
 * needed.  Cosine = dot / (|q| |c|) with the int8 norms: the per-row scales
 * cancel, and integer dot products are exact, so the result equals a
 * brute-force evaluation on the same int8 data bit for bit.
 *
 * Top-k: each query keeps its k best in a small sorted array; a candidate is
 * compared with the current k-th best first, which after the first few
 * candidates rejects almost all of them with one predictable branch.
 */
#include <math.h>
#include <stdlib.h>

#include "embed_internal.h"
#include "matrix_internal.h"

#define QB 8                /* queries per block */
#define CAND_BLOCK 1024     /* candidates per kernel call (scores fit in L1) */

/* scores[c * QB + j] = dot(candidate c, query j) for a block of candidates. */
HUSH_TARGET_CLONES
static void dot_block(const int16_t *restrict q, size_t stride, const int8_t *restrict cand,
                      size_t n, int32_t *restrict scores)
{
    const int16_t *q0 = q, *q1 = q + stride, *q2 = q + 2 * stride, *q3 = q + 3 * stride;
    const int16_t *q4 = q + 4 * stride, *q5 = q + 5 * stride, *q6 = q + 6 * stride;
    const int16_t *q7 = q + 7 * stride;
    for (size_t c = 0; c < n; c++) {
        const int8_t *x = cand + c * stride;
        int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
        for (size_t i = 0; i < stride; i++) {
            int32_t v = x[i];
            s0 += v * q0[i];
            s1 += v * q1[i];
            s2 += v * q2[i];
            s3 += v * q3[i];
            s4 += v * q4[i];
            s5 += v * q5[i];
            s6 += v * q6[i];
            s7 += v * q7[i];
        }
        int32_t *o = scores + c * QB;
        o[0] = s0;
        o[1] = s1;
        o[2] = s2;
        o[3] = s3;
        o[4] = s4;
        o[5] = s5;
        o[6] = s6;
        o[7] = s7;
    }
}

/* Inserts (index, sim) into a query's k best, kept sorted by similarity
 * descending, then index ascending. */
static void offer(hush_match *best, size_t k, uint32_t index, float sim)
{
    size_t pos = k;
    while (pos > 0 && (best[pos - 1].index == HUSH_MATCH_NONE || best[pos - 1].similarity < sim ||
                       (best[pos - 1].similarity == sim && best[pos - 1].index > index))) {
        pos--;
    }
    if (pos == k) {
        return;
    }
    memmove(best + pos + 1, best + pos, (k - pos - 1) * sizeof *best);
    best[pos].index = index;
    best[pos].similarity = sim;
}

/* The similarity a candidate must beat to enter a query's k best. */
static float floor_of(const hush_match *best, size_t k, float threshold)
{
    const hush_match *last = &best[k - 1];
    return last->index == HUSH_MATCH_NONE || last->similarity < threshold ? threshold
                                                                          : last->similarity;
}

static int search_i8(const hush_matrix *cand, const hush_matrix *qm, size_t k, float threshold,
                     hush_match *out, hush_err *err)
{
    size_t stride = cand->stride;
    int16_t *qw = hush_malloc(QB * stride * sizeof *qw);
    int32_t *scores = hush_malloc(CAND_BLOCK * QB * sizeof *scores);
    float *inv_c = hush_malloc((cand->rows ? cand->rows : 1) * sizeof *inv_c);
    if (qw == NULL || scores == NULL || inv_c == NULL) {
        hush_free(qw);
        hush_free(scores);
        hush_free(inv_c);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory for the search");
    }
    for (uint32_t c = 0; c < cand->rows; c++) {
        inv_c[c] = cand->norm[c] > 0.0f ? 1.0f / cand->norm[c] : 0.0f;
    }
    for (uint32_t q0 = 0; q0 < qm->rows; q0 += QB) {
        uint32_t nq = qm->rows - q0 < QB ? qm->rows - q0 : QB;
        float inv_q[QB] = {0};
        memset(qw, 0, QB * stride * sizeof *qw);
        for (uint32_t j = 0; j < nq; j++) {
            const int8_t *src = qm->i8 + (size_t)(q0 + j) * qm->stride;
            for (uint32_t i = 0; i < qm->cols; i++) {
                qw[j * stride + i] = src[i];
            }
            inv_q[j] = qm->norm[q0 + j] > 0.0f ? 1.0f / qm->norm[q0 + j] : 0.0f;
        }
        for (uint32_t c0 = 0; c0 < cand->rows; c0 += CAND_BLOCK) {
            size_t nc = cand->rows - c0 < CAND_BLOCK ? cand->rows - c0 : CAND_BLOCK;
            dot_block(qw, stride, cand->i8 + (size_t)c0 * stride, nc, scores);
            for (uint32_t j = 0; j < nq; j++) {
                hush_match *best = out + (size_t)(q0 + j) * k;
                float fl = floor_of(best, k, threshold);
                for (size_t c = 0; c < nc; c++) {
                    float sim = (float)scores[c * QB + j] * inv_q[j] * inv_c[c0 + c];
                    if (sim >= fl) {
                        offer(best, k, (uint32_t)(c0 + c), sim);
                        fl = floor_of(best, k, threshold);
                    }
                }
            }
        }
    }
    hush_free(qw);
    hush_free(scores);
    hush_free(inv_c);
    return 0;
}

/* Float path: the reference, summed in double. */
static void search_f32(const hush_matrix *cand, const hush_matrix *qm, size_t k, float threshold,
                       hush_match *out)
{
    for (uint32_t q = 0; q < qm->rows; q++) {
        const float *x = qm->f32 + (size_t)q * qm->cols;
        hush_match *best = out + (size_t)q * k;
        for (uint32_t c = 0; c < cand->rows; c++) {
            const float *y = cand->f32 + (size_t)c * cand->cols;
            double dot = 0.0;
            for (uint32_t i = 0; i < qm->cols; i++) {
                dot += (double)x[i] * y[i];
            }
            double den = (double)qm->norm[q] * cand->norm[c];
            float sim = den > 0.0 ? (float)(dot / den) : 0.0f;
            if (sim >= floor_of(best, k, threshold)) {
                offer(best, k, c, sim);
            }
        }
    }
}

int hush_nearest(const hush_matrix *candidates, const hush_matrix *queries, size_t k,
                 float threshold, hush_match *out, size_t out_len, hush_err *err)
{
    if (candidates->type != queries->type) {
        return hush_err_set(err, HUSH_EINVAL, "queries and candidates must have the same type");
    }
    if (candidates->cols != queries->cols) {
        return hush_err_set(err, HUSH_EINVAL,
                            "queries have %u columns, candidates %u", queries->cols,
                            candidates->cols);
    }
    if (k == 0 || k > 4096) {
        return hush_err_set(err, HUSH_ERANGE, "k must be in [1, 4096] (got %zu)", k);
    }
    if (isnan(threshold)) {
        return hush_err_set(err, HUSH_EINVAL, "threshold is NaN");
    }
    size_t need;
    if (!hush_size_mul(queries->rows, k, &need) || out_len < need) {
        return hush_err_set(err, HUSH_EINVAL, "output holds %zu matches, need %u x %zu",
                            out_len, queries->rows, k);
    }
    for (size_t i = 0; i < need; i++) {
        out[i].index = HUSH_MATCH_NONE;
        out[i].similarity = 0.0f;
    }
    if (candidates->type == HUSH_MATRIX_I8) {
        return search_i8(candidates, queries, k, threshold, out, err);
    }
    search_f32(candidates, queries, k, threshold, out);
    return 0;
}
