/*
 * ldp_olh.c - optimized local hashing, device and collector halves.
 *
 * Device: draw a fresh 32-bit seed s, hash the value into [g] with
 * h_s(v) = floor(XXH3_64(le32(v), seed s) * g / 2^64), and report (s, y) where
 * y is generalized randomized response over [g] of h_s(v): kept with
 * p = e^eps/(e^eps + g - 1), otherwise uniform over the other g - 1 values.
 * The hash is public, so the ratio bound is GRR's: e^eps (the keep threshold
 * is rounded down).  g = round(e^eps) + 1 minimises the variance (Wang et al.
 * 2017, sec. 4.4).
 * Report: seed uint32 LE, then y uint32 LE (8 bytes; 32 + log2 g bits).
 * State: d sums, cells[v] = reports whose (s, y) supports v, i.e. with
 * h_s(v) == y.  Support is counted when a report is added (d hash
 * evaluations, a loop compiled for AVX-512/AVX2 where present), so the state
 * stays a mergeable vector of sums instead of a list of reports.
 * Estimate: a report from another value supports v with probability exactly
 * q = 1/g, so c^ = (C(v) - n/g)/(p - 1/g) and
 * Var c^ = n q(1-q)/(p-q)^2 + c(1-p-q)/(p-q), ~ 4 n e^eps/(e^eps-1)^2.
 */
#include <math.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "privacy_internal.h"

#define OLH_G_MAX (1u << 24)

/* The value is hashed as its 4 little-endian bytes on every platform. */
static inline uint32_t olh_hash(uint32_t value, uint32_t seed, uint32_t g)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    value = __builtin_bswap32(value);
#endif
    return hush__reduce(XXH3_64bits_withSeed(&value, sizeof value, seed), g);
}

static int olh_init(hush_ldp *m, hush_err *err)
{
    double e = exp(m->params.epsilon);
    if (m->params.olh_g == 0) {
        double g = floor(e + 0.5) + 1.0;
        m->params.olh_g = g > (double)OLH_G_MAX ? OLH_G_MAX : (uint32_t)g;
    }
    uint32_t g = m->params.olh_g;
    if (g < 2 || g > OLH_G_MAX) {
        return hush_err_set(err, HUSH_ERANGE, "olh g must be in [2, %u] (got %u)",
                            OLH_G_MAX, g);
    }
    m->g = g;
    double p = 1.0 / (1.0 + (g - 1.0) * exp(-m->params.epsilon));
    m->t_main = hush_prob_threshold(p, false);
    m->p = hush_threshold_prob(m->t_main);
    m->q = 1.0 / g;
    m->report_size = 8;
    m->report_bits = 32 + hush__bits_for(g);
    m->n_cells = m->params.domain;
    return 0;
}

static void olh_encode(const hush_ldp *m, uint64_t value, hush_rng *rng, uint8_t *report)
{
    uint32_t seed = (uint32_t)hush_rng_u64(rng);
    uint32_t x = olh_hash((uint32_t)value, seed, m->g);
    if (!hush_rng_bernoulli(rng, m->t_main)) {
        uint32_t other = (uint32_t)hush_rng_uniform(rng, m->g - 1);
        x = other >= x ? other + 1 : other;
    }
    hush_store_le32(report, seed);
    hush_store_le32(report + 4, x);
}

static int olh_check(const hush_ldp *m, const uint8_t *report, hush_err *err)
{
    uint32_t y = hush_load_le32(report + 4);
    if (y >= m->g) {
        return hush_err_set(err, HUSH_ERANGE,
                            "olh report hash value must be < g = %u (got %u)", m->g, y);
    }
    return 0;
}

static size_t olh_scan(const hush_ldp *m, const uint8_t *reports, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (hush_load_le32(reports + 8 * i + 4) >= m->g) {
            return i;
        }
    }
    return n;
}

/* The support count of one report over the whole domain: the hot loop of
 * OLH.  Each iteration is independent, so it vectorizes. */
HUSH_TARGET_CLONES
static void olh_support(int64_t *restrict cells, uint32_t d, uint32_t seed, uint32_t y,
                        uint32_t g)
{
    for (uint32_t v = 0; v < d; v++) {
        cells[v] += olh_hash(v, seed, g) == y;
    }
}

static void olh_add(hush_ldp_agg *agg, const uint8_t *reports, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *r = reports + 8 * i;
        olh_support(agg->cells, agg->mech.params.domain, hush_load_le32(r),
                    hush_load_le32(r + 4), agg->mech.g);
    }
}

const hush__ldp_ops hush__ldp_olh_ops = {
    .id = HUSH_LDP_OLH,
    .init = olh_init,
    .encode = olh_encode,
    .check = olh_check,
    .scan = olh_scan,
    .add = olh_add,
    .check_state = hush__check_count_range,
    .estimate = hush__pure_estimate,
    .variance = hush__pure_variance_op,
};
