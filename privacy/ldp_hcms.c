/*
 * ldp_hcms.c - Apple's Hadamard Count Mean Sketch, device and collector
 * halves ("Learning with Privacy at Scale", Apple Differential Privacy Team,
 * 2017).
 *
 * Device: pick a uniform row j of k and a uniform column l of m (a power of
 * two); send the l-th coefficient of the Hadamard transform of e_{h_j(x)},
 * i.e. H[h_j(x)][l] in {-1,+1}, flipped with probability 1/(1 + e^eps).
 * Ratio bound: (1-r)/r = e^eps, r's threshold rounded up.
 * Report: row uint32 LE, then l << 1 | b uint32 LE, b = 1 for +1
 * (log2 k + log2 m + 1 bits).
 * State: k*m sums S[j][l] of the reported signs.
 * Estimate: with c_e = 1/(1 - 2r) = (e^eps+1)/(e^eps-1), each row is
 * transformed back, T_j = c_e H S_j (Apple's M H^T, divided by k), and
 * c^(x) = m/(m-1) (sum_j T_j[h_j(x)] - n/m).
 * Variance over the mechanism and a random hash family (derived in
 * docs/privacy.md; it differs from the CMS shape because every report adds
 * exactly +/-c_e):
 *   (m/(m-1))^2 (n c_e^2 - c) - (n - c)/(m-1)^2
 *   + 1/((m-1) k) sum_{x' != x} c'(c'-1).
 */
#include <math.h>

#include "privacy_internal.h"

static int hcms_init(hush_ldp *m, hush_err *err)
{
    int rc = hush__sketch_init(m, true, err);
    if (rc != 0) {
        return rc;
    }
    m->t_main = hush_prob_threshold(1.0 / (1.0 + exp(m->params.epsilon)), true);
    double r = hush_threshold_prob(m->t_main);
    m->c_eps = 1.0 / (1.0 - 2.0 * r);
    m->report_size = 8;
    m->report_bits = hush__bits_for(m->sk_rows) + m->sk_log2cols + 1;
    m->n_cells = (size_t)m->sk_rows * m->sk_cols;
    return 0;
}

static void hcms_encode(const hush_ldp *m, uint64_t key, hush_rng *rng, uint8_t *report)
{
    uint32_t j = (uint32_t)hush_rng_uniform(rng, m->sk_rows);
    uint32_t l = (uint32_t)hush_rng_uniform(rng, m->sk_cols);
    uint32_t c = hush__sketch_column(m->params.hash_seed, j, key, m->sk_cols);
    uint32_t positive = (__builtin_popcount(c & l) & 1u) == 0;
    uint32_t flip = hush_rng_bernoulli(rng, m->t_main);
    hush_store_le32(report, j);
    hush_store_le32(report + 4, l << 1 | (positive ^ flip));
}

static int hcms_check(const hush_ldp *m, const uint8_t *report, hush_err *err)
{
    uint32_t j = hush_load_le32(report);
    uint32_t l = hush_load_le32(report + 4) >> 1;
    if (j >= m->sk_rows) {
        return hush_err_set(err, HUSH_ERANGE, "hcms report row must be < %u (got %u)",
                            m->sk_rows, j);
    }
    if (l >= m->sk_cols) {
        return hush_err_set(err, HUSH_ERANGE, "hcms report column must be < %u (got %u)",
                            m->sk_cols, l);
    }
    return 0;
}

static size_t hcms_scan(const hush_ldp *m, const uint8_t *reports, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *r = reports + 8 * i;
        if (hush_load_le32(r) >= m->sk_rows || hush_load_le32(r + 4) >> 1 >= m->sk_cols) {
            return i;
        }
    }
    return n;
}

static void hcms_add(hush_ldp_agg *agg, const uint8_t *reports, size_t n)
{
    int64_t *cells = agg->cells;
    unsigned shift = agg->mech.sk_log2cols;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *r = reports + 8 * i;
        uint32_t j = hush_load_le32(r);
        uint32_t lb = hush_load_le32(r + 4);
        cells[((size_t)j << shift) + (lb >> 1)] += (int64_t)(lb & 1u) * 2 - 1;
    }
}

static int hcms_check_state(const hush_ldp_agg *agg, hush_err *err)
{
    return hush__check_sign_sums(agg->cells, agg->mech.n_cells, agg->n_reports, "hcms",
                                 err);
}

/* T_j = c_e H S_j for every row: Apple's M H^T divided by k. */
static double *hcms_table(const hush_ldp_agg *agg)
{
    const hush_ldp *m = &agg->mech;
    double *table = hush_malloc(m->n_cells * sizeof *table);
    if (table == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < m->n_cells; i++) {
        table[i] = m->c_eps * (double)agg->cells[i];
    }
    for (uint32_t j = 0; j < m->sk_rows; j++) {
        hush__fwht(table + (size_t)j * m->sk_cols, m->sk_cols);
    }
    return table;
}

static double hcms_variance(const hush_ldp *m, double n, double count,
                            double others_sum_sq)
{
    double mm = m->sk_cols;
    double k = m->sk_rows;
    double scale = mm / (mm - 1.0);
    double noise = scale * scale * (n * m->c_eps * m->c_eps - count);
    /* sum_{x'} c'(c'-1) = S2 - others >= 0 for integer counts. */
    double others = n - count;
    double extra = others_sum_sq > others ? others_sum_sq - others : 0.0;
    return noise - others / ((mm - 1.0) * (mm - 1.0)) + extra / ((mm - 1.0) * k);
}

const hush__ldp_ops hush__ldp_hcms_ops = {
    .id = HUSH_LDP_HCMS,
    .init = hcms_init,
    .encode = hcms_encode,
    .check = hcms_check,
    .scan = hcms_scan,
    .add = hcms_add,
    .check_state = hcms_check_state,
    .estimate = hush__sketch_estimate,
    .estimate_keys = hush__sketch_estimate_keys,
    .sketch_table = hcms_table,
    .variance = hcms_variance,
};
