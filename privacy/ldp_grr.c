/*
 * ldp_grr.c - generalized randomized response (k-RR), device and collector
 * halves.
 *
 * Device: report the true value with probability p = e^eps/(e^eps + d - 1),
 * otherwise a uniform one of the d - 1 other values.  P[r|v]/P[r|v'] is at
 * most p/((1-p)/(d-1)) = e^eps; the keep threshold is rounded down, which
 * only lowers that ratio.
 * Report: the value, uint32 little-endian (4 bytes, log2 d bits of content).
 * State: d sums, cells[v] = reports naming v (they add up to n).
 * Estimate (Wang et al. 2017, sec. 4.1): c^ = (C(v) - n q)/(p - q) with
 * q = (1-p)/(d-1); variance n q(1-q)/(p-q)^2 + c(1-p-q)/(p-q).
 */
#include <math.h>

#include "privacy_internal.h"

static int grr_init(hush_ldp *m, hush_err *err)
{
    (void)err;
    double d = m->params.domain;
    /* p = 1 / (1 + (d-1) e^-eps): no overflow for any allowed epsilon. */
    double p = 1.0 / (1.0 + (d - 1.0) * exp(-m->params.epsilon));
    m->t_main = hush_prob_threshold(p, false);
    m->p = hush_threshold_prob(m->t_main);
    m->q = (1.0 - m->p) / (d - 1.0);
    m->report_size = 4;
    m->report_bits = hush__bits_for(m->params.domain);
    m->n_cells = m->params.domain;
    return 0;
}

static void grr_encode(const hush_ldp *m, uint64_t value, hush_rng *rng, uint8_t *report)
{
    uint32_t v = (uint32_t)value;
    if (!hush_rng_bernoulli(rng, m->t_main)) {
        uint32_t other = (uint32_t)hush_rng_uniform(rng, m->params.domain - 1);
        v = other >= v ? other + 1 : other;
    }
    hush_store_le32(report, v);
}

static int grr_check(const hush_ldp *m, const uint8_t *report, hush_err *err)
{
    uint32_t v = hush_load_le32(report);
    if (v >= m->params.domain) {
        return hush_err_set(err, HUSH_ERANGE, "grr report value must be < %u (got %u)",
                            m->params.domain, v);
    }
    return 0;
}

static size_t grr_scan(const hush_ldp *m, const uint8_t *reports, size_t n)
{
    uint32_t d = m->params.domain;
    for (size_t i = 0; i < n; i++) {
        if (hush_load_le32(reports + 4 * i) >= d) {
            return i;
        }
    }
    return n;
}

static void grr_add(hush_ldp_agg *agg, const uint8_t *reports, size_t n)
{
    int64_t *cells = agg->cells;
    for (size_t i = 0; i < n; i++) {
        cells[hush_load_le32(reports + 4 * i)]++;
    }
}

static int grr_check_state(const hush_ldp_agg *agg, hush_err *err)
{
    uint64_t total = 0;
    for (size_t i = 0; i < agg->mech.n_cells; i++) {
        int64_t c = agg->cells[i];
        if (c < 0 || (uint64_t)c > agg->n_reports - total) {
            return hush_err_set(err, HUSH_ECORRUPT,
                                "grr counts exceed the state's %llu reports (count %zu)",
                                (unsigned long long)agg->n_reports, i);
        }
        total += (uint64_t)c;
    }
    if (total != agg->n_reports) {
        return hush_err_set(
            err, HUSH_ECORRUPT, "grr counts add up to %llu, the state says %llu reports",
            (unsigned long long)total, (unsigned long long)agg->n_reports);
    }
    return 0;
}

const hush__ldp_ops hush__ldp_grr_ops = {
    .id = HUSH_LDP_GRR,
    .init = grr_init,
    .encode = grr_encode,
    .check = grr_check,
    .scan = grr_scan,
    .add = grr_add,
    .check_state = grr_check_state,
    .estimate = hush__pure_estimate,
    .variance = hush__pure_variance_op,
};
