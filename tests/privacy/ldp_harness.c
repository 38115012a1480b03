/*
 * ldp_harness.c - statistical checks shared by the frequency-oracle tests
 * (see ldp_harness.h).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "ldp_harness.h"

long double harness_tprob(uint64_t threshold)
{
    return (long double)threshold * 0x1.0p-64L;
}

double harness_chi2_quantile(double df, double p_upper)
{
    double z = hush_normal_quantile(1.0 - p_upper);
    double a = 2.0 / (9.0 * df);
    double c = 1.0 - a + z * sqrt(a);
    return df * c * c * c;
}

void harness_zipf_counts(uint32_t d, uint64_t n, double s, uint64_t *counts)
{
    double total = 0.0;
    for (uint32_t i = 0; i < d; i++) {
        total += pow(i + 1.0, -s);
    }
    uint64_t assigned = 0;
    for (uint32_t i = 0; i < d; i++) {
        counts[i] = (uint64_t)floor((double)n * pow(i + 1.0, -s) / total);
        assigned += counts[i];
    }
    for (uint32_t i = 0; assigned < n; i = (i + 1) % d) {
        counts[i]++;
        assigned++;
    }
}

void harness_run_trials(const hush_ldp_params *params, const uint64_t *counts, int trials,
                        uint64_t seed, harness_stats *out)
{
    uint32_t d = params->domain;
    uint64_t n = 0;
    double sum_sq = 0.0;
    for (uint32_t i = 0; i < d; i++) {
        n += counts[i];
        sum_sq += (double)counts[i] * (double)counts[i];
    }
    double *err_sum = calloc(d, sizeof(double));
    double *var = calloc(d, sizeof(double));
    double *est = calloc(d, sizeof(double));
    double *sq = calloc((size_t)d * (size_t)trials, sizeof(double));
    cr_assert(err_sum != NULL && var != NULL && est != NULL && sq != NULL);
    uint8_t *reports = NULL;
    hush_err err = {0};
    for (int t = 0; t < trials; t++) {
        hush_ldp_params p = *params;
        p.hash_seed = seed * 7919u + (uint64_t)t;
        hush_ldp *m = NULL;
        hush_ldp_agg *agg = NULL;
        hush_rng *rng = NULL;
        cr_assert_eq(hush_ldp_new(&p, &m, &err), 0, "seed %llu: %s",
                     (unsigned long long)seed, err.msg);
        cr_assert_eq(hush_ldp_agg_new(m, &agg, &err), 0);
        cr_assert_eq(hush_rng_new_seeded_u64(seed * 1000003u + (uint64_t)t, &rng), 0);
        size_t rs = hush_ldp_report_size(m);
        if (reports == NULL) {
            reports = malloc(rs * n);
            cr_assert(reports != NULL);
        }
        uint8_t *r = reports;
        for (uint32_t v = 0; v < d; v++) {
            for (uint64_t c = 0; c < counts[v]; c++, r += rs) {
                cr_assert_eq(hush_ldp_encode(m, v, rng, r, rs, &err), 0, "%s", err.msg);
            }
        }
        cr_assert_eq(hush_ldp_agg_add(agg, reports, rs * n, NULL, &err), 0, "%s",
                     err.msg);
        cr_assert_eq(hush_ldp_agg_count(agg), n);
        cr_assert_eq(hush_ldp_agg_estimate_counts(agg, est, d, &err), 0, "%s", err.msg);
        for (uint32_t v = 0; v < d; v++) {
            double c = (double)counts[v];
            double e = est[v] - c;
            err_sum[v] += e;
            sq[(size_t)t * d + v] = e * e;
            if (t == 0) {
                var[v] = hush_ldp_variance(m, (double)n, c, sum_sq - c * c);
            }
        }
        hush_rng_free(rng);
        hush_ldp_agg_free(agg);
        hush_ldp_free(m);
    }
    /* The variance check pools standardized squared errors z^2 = e^2/Var,
     * one per item and trial, so heavy and light items weigh alike; their
     * mean is 1 if the formula is right, and its standard error comes from
     * their own spread (sqrt(2/N) if the errors are Gaussian). */
    double zsum = 0.0, zsq = 0.0;
    size_t samples = (size_t)d * (size_t)trials;
    out->max_bias_z = 0.0;
    out->worst_item = 0;
    for (uint32_t v = 0; v < d; v++) {
        double z = fabs(err_sum[v] / trials) / sqrt(var[v] / trials);
        if (z > out->max_bias_z) {
            out->max_bias_z = z;
            out->worst_item = v;
        }
        for (int t = 0; t < trials; t++) {
            double z2 = sq[(size_t)t * d + v] / var[v];
            zsum += z2;
            zsq += z2 * z2;
        }
    }
    double mean = zsum / samples;
    double spread = zsq / samples - mean * mean;
    out->trials = trials;
    out->d = d;
    out->var_ratio = mean;
    out->var_ratio_se = sqrt((spread > 0.0 ? spread : 0.0) / samples);
    free(reports);
    free(err_sum);
    free(var);
    free(est);
    free(sq);
}

void harness_check_accuracy(hush_ldp_mechanism mech, const uint32_t *domains,
                            size_t n_domains, double epsilon, uint32_t sketch_rows,
                            uint32_t sketch_cols)
{
    const uint64_t n = 100000;
#ifdef HUSH_TEST_SLOW
    const double pool = 24000.0; /* ten times the samples of the fast tier */
#else
    const double pool = 2400.0; /* item-estimates pooled per configuration */
#endif
    for (size_t i = 0; i < n_domains; i++) {
        uint32_t d = domains[i];
        uint64_t *counts = calloc(d, sizeof *counts);
        cr_assert(counts != NULL);
        harness_zipf_counts(d, n, 1.1, counts);
        int trials = (int)ceil(pool / d);
        if (trials < 3) {
            trials = 3;
        }
        hush_ldp_params params = {.mechanism = mech,
                                  .domain = d,
                                  .epsilon = epsilon,
                                  .sketch_rows = sketch_rows,
                                  .sketch_cols = sketch_cols};
        uint64_t seed = (uint64_t)mech * 1000000u + d * 100u + (uint64_t)(epsilon * 10);
        harness_stats st;
        harness_run_trials(&params, counts, trials, seed, &st);
        /* Bonferroni over the d items at a family-wise 1e-4, never below 4. */
        double zcrit = hush_normal_quantile(1.0 - 1e-4 / (2.0 * d));
        if (zcrit < 4.0) {
            zcrit = 4.0;
        }
        const char *name = hush_ldp_mechanism_name(mech);
        cr_expect(st.max_bias_z <= zcrit,
                  "%s d=%u eps=%g seed=%llu: item %u mean error is %.2f standard errors "
                  "from the truth (limit %.2f, %d trials)",
                  name, d, epsilon, (unsigned long long)seed, st.worst_item,
                  st.max_bias_z, zcrit, trials);
        cr_expect(st.var_ratio_se <= 0.15 / 4.0,
                  "%s d=%u eps=%g: the variance check is too coarse (se %.4f)", name, d,
                  epsilon, st.var_ratio_se);
        cr_expect(fabs(st.var_ratio - 1.0) <= 0.15,
                  "%s d=%u eps=%g seed=%llu: empirical variance / formula = %.4f "
                  "(se %.4f, %d trials)",
                  name, d, epsilon, (unsigned long long)seed, st.var_ratio,
                  st.var_ratio_se, trials);
        free(counts);
    }
}

void harness_audit(const hush_ldp *m, size_t n_outputs, harness_output_fn output,
                   harness_prob_fn prob, harness_index_fn index_of, long double total,
                   size_t samples, uint64_t seed)
{
    uint32_t d = m->params.domain;
    long double bound = expl((long double)m->params.epsilon);
    size_t rs = m->report_size;
    long double *p = calloc((size_t)d * n_outputs, sizeof(long double));
    uint8_t *report = calloc(rs, 1);
    cr_assert(p != NULL && report != NULL);
    /* The exact model: completeness and the ratio bound. */
    for (size_t i = 0; i < n_outputs; i++) {
        output(m, i, report);
        cr_assert_eq(index_of(m, report), i, "enumeration and index disagree at %zu", i);
        for (uint32_t v = 0; v < d; v++) {
            p[(size_t)v * n_outputs + i] = prob(m, v, report);
        }
    }
    for (uint32_t v = 0; v < d; v++) {
        long double s = 0.0L;
        for (size_t i = 0; i < n_outputs; i++) {
            s += p[(size_t)v * n_outputs + i];
        }
        cr_assert(fabsl(s - total) < 1e-12L,
                  "model of input %u sums to %.15Lg, not %.15Lg", v, s, total);
    }
    for (size_t i = 0; i < n_outputs; i++) {
        for (uint32_t v = 0; v < d; v++) {
            for (uint32_t w = 0; w < d; w++) {
                long double a = p[(size_t)v * n_outputs + i];
                long double b = p[(size_t)w * n_outputs + i];
                cr_assert(
                    a <= bound * b,
                    "%s eps=%g: P[r%zu|%u]/P[r%zu|%u] = %.12Lg exceeds e^eps = %.12Lg",
                    hush_ldp_mechanism_name(m->params.mechanism), m->params.epsilon, i, v,
                    i, w, a / b, bound);
            }
        }
    }
    if (samples == 0) {
        free(p);
        free(report);
        return;
    }
    /* The encoder against the model. */
    uint64_t *hits = calloc((size_t)d * (n_outputs + 1), sizeof(uint64_t));
    hush_rng *rng = NULL;
    cr_assert(hits != NULL);
    cr_assert_eq(hush_rng_new_seeded_u64(seed, &rng), 0);
    hush_err err = {0};
    for (uint32_t v = 0; v < d; v++) {
        for (size_t s = 0; s < samples; s++) {
            cr_assert_eq(hush_ldp_encode(m, v, rng, report, rs, &err), 0, "%s", err.msg);
            hits[(size_t)v * (n_outputs + 1) + index_of(m, report)]++;
        }
    }
    for (uint32_t v = 0; v < d; v++) {
        /* Pearson chi-square over cells expected >= 5, the rest pooled. */
        double chi2 = 0.0, pooled_obs = 0.0, pooled_exp = 0.0;
        int cells = 0;
        for (size_t i = 0; i <= n_outputs; i++) {
            double expected = i < n_outputs
                                  ? (double)(p[(size_t)v * n_outputs + i] * samples)
                                  : (double)((1.0L - total) * samples);
            double observed = (double)hits[(size_t)v * (n_outputs + 1) + i];
            if (expected >= 5.0) {
                chi2 += (observed - expected) * (observed - expected) / expected;
                cells++;
            } else {
                pooled_obs += observed;
                pooled_exp += expected;
            }
        }
        if (pooled_exp > 0.0) {
            chi2 += (pooled_obs - pooled_exp) * (pooled_obs - pooled_exp) / pooled_exp;
            cells++;
        } else {
            cr_assert(pooled_obs == 0.0, "input %u produced an impossible report", v);
        }
        double limit = harness_chi2_quantile(cells > 1 ? cells - 1 : 1, 1e-6);
        cr_expect(
            chi2 <= limit,
            "%s eps=%g seed=%llu: input %u output frequencies differ from the model "
            "(chi2 %.1f > %.1f on %d cells)",
            hush_ldp_mechanism_name(m->params.mechanism), m->params.epsilon,
            (unsigned long long)seed, v, chi2, limit, cells - 1);
    }
    /* Empirical ratios, where both frequencies are well measured. */
    for (size_t i = 0; i < n_outputs; i++) {
        for (uint32_t v = 0; v < d; v++) {
            for (uint32_t w = 0; w < d; w++) {
                double a = (double)hits[(size_t)v * (n_outputs + 1) + i];
                double b = (double)hits[(size_t)w * (n_outputs + 1) + i];
                if (a < 100 || b < 100) {
                    continue;
                }
                double tol = 5.0 * sqrt(1.0 / a + 1.0 / b);
                cr_expect(
                    log(a / b) <= (double)m->params.epsilon + tol,
                    "empirical ratio %g for output %zu, inputs %u/%u, exceeds e^eps "
                    "beyond sampling error",
                    a / b, i, v, w);
            }
        }
    }
    hush_rng_free(rng);
    free(hits);
    free(p);
    free(report);
}
