/*
 * ldp_cms.c - Apple's Count Mean Sketch, device and collector halves
 * ("Learning with Privacy at Scale", Apple Differential Privacy Team, 2017).
 *
 * Device: pick a uniform row j of k; build v in {-1,+1}^m with +1 only at
 * column h_j(x); flip every coordinate independently with probability
 * r = 1/(1 + e^(eps/2)).  Two inputs differ in at most two coordinates, each
 * an (eps/2)-randomized response, so the report is eps-LDP (r's threshold is
 * rounded up, which only lowers the ratio).
 * Report: row uint32 LE, then ceil(m/8) bytes of bits (1 = +1), padding zero
 * (log2 k + m bits).
 * State: k*m sums ones[j][c] (reports of row j with bit c set), then k row
 * counts n_j.
 * Estimate: with c_e = 1/(1 - 2r) = (e^(eps/2)+1)/(e^(eps/2)-1), Apple's
 * debiased matrix is M[j][c] = k (c_e (ones - n_j/2) + n_j/2), and
 * c^(x) = m/(m-1) ((1/k) sum_j M[j][h_j(x)] - n/m).
 * Variance over the mechanism and a random hash family (derived in
 * docs/privacy.md, checked by simulation):
 *   (m/(m-1))^2 n (c_e^2 - 1)/4 + 1/(m-1) sum_{x' != x} [c' + c'(c'-1)/k],
 * and (c_e^2 - 1)/4 = e^(eps/2)/(e^(eps/2)-1)^2.
 */
#include <math.h>

#include "privacy_internal.h"

static int cms_init(hush_ldp *m, hush_err *err)
{
    int rc = hush__sketch_init(m, false, err);
    if (rc != 0) {
        return rc;
    }
    m->t_main = hush_prob_threshold(1.0 / (1.0 + exp(m->params.epsilon / 2.0)), true);
    double r = hush_threshold_prob(m->t_main);
    m->c_eps = 1.0 / (1.0 - 2.0 * r);
    m->report_size = 4 + (m->sk_cols + 7) / 8;
    m->report_bits = hush__bits_for(m->sk_rows) + m->sk_cols;
    m->n_cells = (size_t)m->sk_rows * m->sk_cols + m->sk_rows;
    return 0;
}

static void cms_encode(const hush_ldp *m, uint64_t key, hush_rng *rng, uint8_t *report)
{
    uint32_t j = (uint32_t)hush_rng_uniform(rng, m->sk_rows);
    uint32_t c = hush__sketch_column(m->params.hash_seed, j, key, m->sk_cols);
    uint8_t *bits = report + 4;
    /* The flips themselves, then the one +1 coordinate toggled. */
    hush_rng_bernoulli_bits(rng, m->t_main, bits, m->sk_cols);
    bits[c >> 3] ^= (uint8_t)(1u << (c & 7));
    hush_store_le32(report, j);
}

static int cms_check(const hush_ldp *m, const uint8_t *report, hush_err *err)
{
    uint32_t j = hush_load_le32(report);
    if (j >= m->sk_rows) {
        return hush_err_set(err, HUSH_ERANGE, "cms report row must be < %u (got %u)",
                            m->sk_rows, j);
    }
    if (!hush__padding_clear(report + 4, m->sk_cols)) {
        return hush_err_set(err, HUSH_ERANGE, "cms report sets bits beyond %u columns",
                            m->sk_cols);
    }
    return 0;
}

static size_t cms_scan(const hush_ldp *m, const uint8_t *reports, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *r = reports + i * m->report_size;
        if (hush_load_le32(r) >= m->sk_rows || !hush__padding_clear(r + 4, m->sk_cols)) {
            return i;
        }
    }
    return n;
}

HUSH_TARGET_CLONES
static void cms_add(hush_ldp_agg *agg, const uint8_t *reports, size_t n)
{
    const hush_ldp *m = &agg->mech;
    size_t cols = m->sk_cols;
    int64_t *row_counts = agg->cells + (size_t)m->sk_rows * cols;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *r = reports + i * m->report_size;
        uint32_t j = hush_load_le32(r);
        const uint8_t *bits = r + 4;
        int64_t *row = agg->cells + (size_t)j * cols;
        for (size_t b = 0; b < cols / 8; b++) {
            uint64_t byte = bits[b];
            for (unsigned k = 0; k < 8; k++) {
                row[8 * b + k] += (int64_t)((byte >> k) & 1u);
            }
        }
        for (size_t c = cols & ~(size_t)7; c < cols; c++) {
            row[c] += (bits[c >> 3] >> (c & 7)) & 1;
        }
        row_counts[j]++;
    }
}

static int cms_check_state(const hush_ldp_agg *agg, hush_err *err)
{
    const hush_ldp *m = &agg->mech;
    const int64_t *row_counts = agg->cells + (size_t)m->sk_rows * m->sk_cols;
    uint64_t total = 0;
    for (uint32_t j = 0; j < m->sk_rows; j++) {
        int64_t nj = row_counts[j];
        if (nj < 0 || (uint64_t)nj > agg->n_reports - total) {
            return hush_err_set(err, HUSH_ECORRUPT, "cms row count %u is out of range",
                                j);
        }
        total += (uint64_t)nj;
        for (uint32_t c = 0; c < m->sk_cols; c++) {
            int64_t v = agg->cells[(size_t)j * m->sk_cols + c];
            if (v < 0 || v > nj) {
                return hush_err_set(err, HUSH_ECORRUPT,
                                    "cms sum [%u][%u] is out of range", j, c);
            }
        }
    }
    if (total != agg->n_reports) {
        return hush_err_set(err, HUSH_ECORRUPT,
                            "cms row counts add up to %llu, the state says %llu reports",
                            (unsigned long long)total,
                            (unsigned long long)agg->n_reports);
    }
    return 0;
}

/* table[j][c] = (1/k) M[j][c], Apple's debiased sketch divided by k. */
static double *cms_table(const hush_ldp_agg *agg)
{
    const hush_ldp *m = &agg->mech;
    size_t cells = (size_t)m->sk_rows * m->sk_cols;
    double *table = hush_malloc(cells * sizeof *table);
    if (table == NULL) {
        return NULL;
    }
    const int64_t *row_counts = agg->cells + cells;
    for (uint32_t j = 0; j < m->sk_rows; j++) {
        double half = (double)row_counts[j] / 2.0;
        for (uint32_t c = 0; c < m->sk_cols; c++) {
            size_t i = (size_t)j * m->sk_cols + c;
            table[i] = m->c_eps * ((double)agg->cells[i] - half) + half;
        }
    }
    return table;
}

static double cms_variance(const hush_ldp *m, double n, double count,
                           double others_sum_sq)
{
    double mm = m->sk_cols;
    double k = m->sk_rows;
    double scale = mm / (mm - 1.0);
    double noise = scale * scale * n * (m->c_eps * m->c_eps - 1.0) / 4.0;
    /* sum_{x'} [c' + c'(c'-1)/k] = others + (S2 - others)/k, S2 = sum c'^2,
     * and S2 >= others for integer counts. */
    double others = n - count;
    double extra = others_sum_sq > others ? others_sum_sq - others : 0.0;
    return noise + (others + extra / k) / (mm - 1.0);
}

const hush__ldp_ops hush__ldp_cms_ops = {
    .id = HUSH_LDP_CMS,
    .init = cms_init,
    .encode = cms_encode,
    .check = cms_check,
    .scan = cms_scan,
    .add = cms_add,
    .check_state = cms_check_state,
    .estimate = hush__sketch_estimate,
    .estimate_keys = hush__sketch_estimate_keys,
    .sketch_table = cms_table,
    .variance = cms_variance,
};
