/*
 * ldp_hr.c - one-bit Hadamard response, device and collector halves.
 *
 * Let K be the smallest power of two >= d and H[v][l] = (-1)^popcount(v & l)
 * the K x K Hadamard matrix.  Device: draw a uniform column l and report the
 * sign H[v][l], kept with p = e^eps/(e^eps + 1) and flipped otherwise.
 * P[(l,b)|v]/P[(l,b)|v'] <= p/(1-p) = e^eps (threshold rounded down).
 * Report: uint32 LE, l << 1 | b, b = 1 for +1 (log2 K + 1 bits).
 * State: K sums, cells[l] = sum of the signs reported for column l.
 * Estimate: rows of H are orthogonal under a uniform column, so
 * E[b H[x][l]] = [x = v]/c_e with c_e = 1/(2p - 1) = (e^eps+1)/(e^eps-1),
 * and c^(x) = c_e * (H S)[x] for all x at once with one fast Walsh-Hadamard
 * transform: O(n) to add, O(K log K) to estimate.  Each report adds a term
 * of magnitude c_e, so Var c^ = n c_e^2 - c exactly.
 */
#include <math.h>

#include "privacy_internal.h"

static int hr_init(hush_ldp *m, hush_err *err)
{
    (void)err;
    unsigned log2k = 0;
    while ((UINT64_C(1) << log2k) < m->params.domain) {
        log2k++;
    }
    m->hr_log2k = log2k;
    m->hr_k = (uint32_t)1 << log2k;
    double e = exp(m->params.epsilon);
    m->t_main = hush_prob_threshold(e / (e + 1.0), false);
    m->p = hush_threshold_prob(m->t_main);
    m->q = 1.0 - m->p;
    m->c_eps = 1.0 / (2.0 * m->p - 1.0);
    m->report_size = 4;
    m->report_bits = log2k + 1;
    m->n_cells = m->hr_k;
    return 0;
}

static void hr_encode(const hush_ldp *m, uint64_t value, hush_rng *rng, uint8_t *report)
{
    uint32_t l = (uint32_t)hush_rng_uniform(rng, m->hr_k);
    uint32_t sign_positive = (__builtin_popcount((uint32_t)value & l) & 1u) == 0;
    uint32_t keep = hush_rng_bernoulli(rng, m->t_main);
    hush_store_le32(report, l << 1 | (sign_positive ^ !keep));
}

static int hr_check(const hush_ldp *m, const uint8_t *report, hush_err *err)
{
    uint32_t l = hush_load_le32(report) >> 1;
    if (l >= m->hr_k) {
        return hush_err_set(err, HUSH_ERANGE, "hr report column must be < %u (got %u)",
                            m->hr_k, l);
    }
    return 0;
}

static size_t hr_scan(const hush_ldp *m, const uint8_t *reports, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (hush_load_le32(reports + 4 * i) >> 1 >= m->hr_k) {
            return i;
        }
    }
    return n;
}

static void hr_add(hush_ldp_agg *agg, const uint8_t *reports, size_t n)
{
    int64_t *cells = agg->cells;
    for (size_t i = 0; i < n; i++) {
        uint32_t r = hush_load_le32(reports + 4 * i);
        cells[r >> 1] += (int64_t)(r & 1u) * 2 - 1;
    }
}

static int hr_check_state(const hush_ldp_agg *agg, hush_err *err)
{
    return hush__check_sign_sums(agg->cells, agg->mech.n_cells, agg->n_reports, "hr",
                                 err);
}

static int hr_estimate(const hush_ldp_agg *agg, double *counts, hush_err *err)
{
    const hush_ldp *m = &agg->mech;
    double *x = hush_malloc((size_t)m->hr_k * sizeof *x);
    if (x == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory for a transform of %u",
                            m->hr_k);
    }
    for (uint32_t l = 0; l < m->hr_k; l++) {
        x[l] = (double)agg->cells[l];
    }
    hush__fwht(x, m->hr_k);
    for (uint32_t v = 0; v < m->params.domain; v++) {
        counts[v] = m->c_eps * x[v];
    }
    hush_free(x);
    return 0;
}

static double hr_variance(const hush_ldp *m, double n, double count, double others_sum_sq)
{
    (void)others_sum_sq;
    return n * m->c_eps * m->c_eps - count;
}

const hush__ldp_ops hush__ldp_hr_ops = {
    .id = HUSH_LDP_HR,
    .init = hr_init,
    .encode = hr_encode,
    .check = hr_check,
    .scan = hr_scan,
    .add = hr_add,
    .check_state = hr_check_state,
    .estimate = hr_estimate,
    .variance = hr_variance,
};
