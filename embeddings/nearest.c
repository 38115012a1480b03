/*
 * nearest.c - exact nearest-neighbour search by cosine similarity.
 *
 * int8 path: queries are taken QB at a time (biased to unsigned bytes once);
 * the kernel then walks the candidates, each loaded once per query block,
 * and computes QB integer dot products in one pass over the dimensions.  The
 * loop is plain C that GCC vectorizes (checked with -fopt-info-vec and the
 * assembly: vpdpbusd on 64-byte vectors where the CPU has AVX-512 VNNI,
 * vpmaddwd on x86-64-v4 and v3 otherwise), and rows are padded with zeros to
 * a multiple of 64 bytes, 64-byte aligned, so no remainder loop is needed.  Cosine = dot
 * / (|q| |c|) with the int8 norms: the per-row scales cancel.  A candidate's similarity
 * is computed as
 * ((float)dot * (1/|c|)) * (1/|q|), always in that order, so the result equals
 * a brute-force evaluation on the same int8 data bit for bit.
 *
 * Top-k: each query keeps its k best in a small sorted array; a candidate is
 * compared with the current k-th best first, which after the first few
 * candidates rejects almost all of them with one predictable branch.
 */
#include <math.h>
#include <stdlib.h>

#include "embed_internal.h"
#include "matrix_internal.h"

#define QB 8            /* queries per block */
#define CAND_BLOCK 1024 /* candidates per kernel call (scores fit in L1) */

/*
 * The kernels: scores[j * CAND_BLOCK + c] = dot(candidate c, query j) / |c|
 * for a block of candidates (the query's norm is applied only to the few
 * that pass the pre-filter).  Two forms of the same loop, each the one the
 * compiler turns into the best instruction of its target:
 *
 *  - queries biased to unsigned bytes (q + 128): the unsigned-by-signed
 *    byte dot product AVX-512 VNNI computes in one instruction (vpdpbusd,
 *    64 multiply-adds); the bias comes off exactly: dot = sum (q+128) c -
 *    128 sum c.
 *  - queries widened to int16: 16-bit multiply-adds (vpmaddwd) on
 *    x86-64-v4 and v3, where an unsigned-by-signed byte loop would be
 *    widened twice and multiplied with vpmullw (four times slower here).
 */
#define KERNEL_BODY(QTYPE, BIAS)                                                       \
    const QTYPE *q0 = q, *q1 = q + stride, *q2 = q + 2 * stride, *q3 = q + 3 * stride; \
    const QTYPE *q4 = q + 4 * stride, *q5 = q + 5 * stride, *q6 = q + 6 * stride;      \
    const QTYPE *q7 = q + 7 * stride;                                                  \
    for (size_t c = 0; c < n; c++) {                                                   \
        const int8_t *x = cand + c * stride;                                           \
        int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;        \
        for (size_t i = 0; i < stride; i++) {                                          \
            int32_t v = x[i];                                                          \
            s0 += (int32_t)q0[i] * v;                                                  \
            s1 += (int32_t)q1[i] * v;                                                  \
            s2 += (int32_t)q2[i] * v;                                                  \
            s3 += (int32_t)q3[i] * v;                                                  \
            s4 += (int32_t)q4[i] * v;                                                  \
            s5 += (int32_t)q5[i] * v;                                                  \
            s6 += (int32_t)q6[i] * v;                                                  \
            s7 += (int32_t)q7[i] * v;                                                  \
        }                                                                              \
        int32_t bias = (BIAS)*csum[c];                                                 \
        float ic = inv_c[c];                                                           \
        scores[0 * CAND_BLOCK + c] = (float)(s0 - bias) * ic;                          \
        scores[1 * CAND_BLOCK + c] = (float)(s1 - bias) * ic;                          \
        scores[2 * CAND_BLOCK + c] = (float)(s2 - bias) * ic;                          \
        scores[3 * CAND_BLOCK + c] = (float)(s3 - bias) * ic;                          \
        scores[4 * CAND_BLOCK + c] = (float)(s4 - bias) * ic;                          \
        scores[5 * CAND_BLOCK + c] = (float)(s5 - bias) * ic;                          \
        scores[6 * CAND_BLOCK + c] = (float)(s6 - bias) * ic;                          \
        scores[7 * CAND_BLOCK + c] = (float)(s7 - bias) * ic;                          \
    }

HUSH_TARGET_CLONES
static void dot_block_i16(const int16_t *restrict q, size_t stride,
                          const int8_t *restrict cand, const int32_t *restrict csum,
                          const float *restrict inv_c, size_t n, float *restrict scores)
{
    KERNEL_BODY(int16_t, 0)
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(HUSH_NO_MULTIVERSION)
#define HAVE_VNNI_KERNEL 1
/* Chosen by a feature test, not by CPU model: arch= clones would only match
 * the exact model named. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"))) static void
dot_block_u8(const uint8_t *restrict q, size_t stride, const int8_t *restrict cand,
             const int32_t *restrict csum, const float *restrict inv_c, size_t n,
             float *restrict scores)
{
    KERNEL_BODY(uint8_t, 128)
}

static bool have_vnni(void)
{
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
}
#else
#define HAVE_VNNI_KERNEL 0
#endif

/* Inserts (index, sim) into a query's k best, kept sorted by similarity
 * descending, then index ascending. */
static void offer(hush_match *best, size_t k, uint32_t index, float sim)
{
    size_t pos = k;
    while (pos > 0 &&
           (best[pos - 1].index == HUSH_MATCH_NONE || best[pos - 1].similarity < sim ||
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
    return last->index == HUSH_MATCH_NONE || last->similarity < threshold
               ? threshold
               : last->similarity;
}

/* The kernel-unit bound below which no candidate can reach similarity fl:
 * sim = score / |q|, so score >= fl |q|, loosened by 2^-16 relative. */
static float prefilter(float fl, float qnorm)
{
    float p = fl * qnorm;
    return p - fabsf(p) * 0x1.0p-16f - 0x1.0p-20f;
}

HUSH_TARGET_CLONES
static bool any_at_least(const float *restrict v, size_t n, float bound)
{
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        any |= v[i] >= bound;
    }
    return any != 0;
}

static int search_i8(const hush_matrix *cand, const hush_matrix *qm, size_t k,
                     float threshold, hush_match *out, hush_err *err)
{
    size_t stride = cand->stride;
#if HAVE_VNNI_KERNEL
    bool vnni = have_vnni();
#else
    bool vnni = false;
#endif
    size_t qbytes = vnni ? 1 : sizeof(int16_t);
    void *qw_raw = hush_malloc(QB * stride * qbytes + 63);
    void *qw = qw_raw != NULL ? hush__align64(qw_raw) : NULL;
    int32_t *csum = hush_malloc((cand->rows ? cand->rows : 1) * sizeof *csum);
    float *scores = hush_malloc(CAND_BLOCK * QB * sizeof *scores);
    float *inv_c = hush_malloc((cand->rows ? cand->rows : 1) * sizeof *inv_c);
    if (qw == NULL || scores == NULL || inv_c == NULL || csum == NULL) {
        hush_free(qw_raw);
        hush_free(csum);
        hush_free(scores);
        hush_free(inv_c);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory for the search");
    }
    for (uint32_t c = 0; c < cand->rows; c++) {
        inv_c[c] = cand->norm[c] > 0.0f ? 1.0f / cand->norm[c] : 0.0f;
        const int8_t *x = cand->i8 + (size_t)c * stride;
        int32_t sum = 0;
        for (size_t i = 0; i < stride; i++) {
            sum += x[i];
        }
        csum[c] = sum;
    }
    for (uint32_t q0 = 0; q0 < qm->rows; q0 += QB) {
        uint32_t nq = qm->rows - q0 < QB ? qm->rows - q0 : QB;
        float inv_q[QB] = {0};
        /* VNNI: biased queries, q + 128, with padding and absent queries at
         * 128 (value 0) so that they add exactly the bias that comes off
         * again; otherwise queries widened to int16, padding 0. */
        if (vnni) {
            memset(qw, 128, QB * stride);
        } else {
            memset(qw, 0, QB * stride * sizeof(int16_t));
        }
        for (uint32_t j = 0; j < nq; j++) {
            const int8_t *src = qm->i8 + (size_t)(q0 + j) * qm->stride;
            for (uint32_t i = 0; i < qm->cols; i++) {
                if (vnni) {
                    ((uint8_t *)qw)[j * stride + i] = (uint8_t)(src[i] + 128);
                } else {
                    ((int16_t *)qw)[j * stride + i] = src[i];
                }
            }
            inv_q[j] = qm->norm[q0 + j] > 0.0f ? 1.0f / qm->norm[q0 + j] : 0.0f;
        }
        for (uint32_t c0 = 0; c0 < cand->rows; c0 += CAND_BLOCK) {
            size_t nc = cand->rows - c0 < CAND_BLOCK ? cand->rows - c0 : CAND_BLOCK;
            const int8_t *cb = cand->i8 + (size_t)c0 * stride;
#if HAVE_VNNI_KERNEL
            if (vnni) {
                dot_block_u8(qw, stride, cb, csum + c0, inv_c + c0, nc, scores);
            } else
#endif
            {
                dot_block_i16(qw, stride, cb, csum + c0, inv_c + c0, nc, scores);
            }
            for (uint32_t j = 0; j < nq; j++) {
                hush_match *best = out + (size_t)(q0 + j) * k;
                const float *sc = scores + (size_t)j * CAND_BLOCK;
                float fl = floor_of(best, k, threshold);
                float pre = prefilter(fl, qm->norm[q0 + j]);
                /* Is anything in this block good enough?  A vectorized
                 * compare over contiguous scores; after the first blocks
                 * the answer is almost always no. */
                if (!any_at_least(sc, nc, pre)) {
                    continue;
                }
                for (size_t c = 0; c < nc; c++) {
                    if (sc[c] >= pre) {
                        float sim = sc[c] * inv_q[j];
                        if (sim >= fl) {
                            offer(best, k, (uint32_t)(c0 + c), sim);
                            fl = floor_of(best, k, threshold);
                            pre = prefilter(fl, qm->norm[q0 + j]);
                        }
                    }
                }
            }
        }
    }
    hush_free(qw_raw);
    hush_free(csum);
    hush_free(scores);
    hush_free(inv_c);
    return 0;
}

/* Float path: 16 partial sums, one per lane, added in a fixed order at the
 * end.  Written lane-wise, the loop vectorizes without letting the compiler
 * reassociate anything, so results do not depend on the target. */
#define F32_LANES 16

HUSH_TARGET_CLONES
static float dot_f32(const float *restrict x, const float *restrict y, size_t n)
{
    float part[F32_LANES] = {0};
    size_t i = 0;
    for (; i + F32_LANES <= n; i += F32_LANES) {
        for (size_t l = 0; l < F32_LANES; l++) {
            part[l] += x[i + l] * y[i + l];
        }
    }
    for (size_t l = 0; i < n; i++, l++) {
        part[l] += x[i] * y[i];
    }
    double sum = 0.0;
    for (size_t l = 0; l < F32_LANES; l++) {
        sum += part[l];
    }
    return (float)sum;
}

static void search_f32(const hush_matrix *cand, const hush_matrix *qm, size_t k,
                       float threshold, hush_match *out)
{
    for (uint32_t q = 0; q < qm->rows; q++) {
        const float *x = qm->f32 + (size_t)q * qm->cols;
        hush_match *best = out + (size_t)q * k;
        for (uint32_t c = 0; c < cand->rows; c++) {
            const float *y = cand->f32 + (size_t)c * cand->cols;
            double den = (double)qm->norm[q] * cand->norm[c];
            float sim = den > 0.0 ? (float)(dot_f32(x, y, qm->cols) / den) : 0.0f;
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
        return hush_err_set(err, HUSH_EINVAL,
                            "queries and candidates must have the same type");
    }
    if (candidates->cols != queries->cols) {
        return hush_err_set(err, HUSH_EINVAL, "queries have %u columns, candidates %u",
                            queries->cols, candidates->cols);
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
