/*
 * ldp_harness.h - statistical checks shared by the frequency-oracle tests.
 *
 * The tests are white-box: they include privacy_internal.h to read the
 * thresholds a mechanism instance realises, and recompute every output
 * probability from first principles in the test itself, so the encoder and
 * the test's model are two independent statements of the mechanism.
 */
#ifndef HUSH_TEST_LDP_HARNESS_H
#define HUSH_TEST_LDP_HARNESS_H

#include "privacy_internal.h"

/* Zipf(s) counts over d items adding up to exactly n. */
void harness_zipf_counts(uint32_t d, uint64_t n, double s, uint64_t *counts);

/* Result of repeated encode -> add -> estimate trials. */
typedef struct harness_stats {
    int trials;
    uint32_t d;
    double max_bias_z; /* max over items of |mean error| / (sigma / sqrt(T)) */
    uint32_t worst_item;
    double var_ratio;    /* mean over items and trials of error^2 / formula */
    double var_ratio_se; /* its standard error, estimated from the samples */
} harness_stats;

/*
 * Runs `trials` independent trials of n = sum(counts) reports at `params`
 * (for the sketches each trial draws a fresh hash seed), seeded from `seed`.
 * Fails the current Criterion test on any library error.
 */
void harness_run_trials(const hush_ldp_params *params, const uint64_t *counts, int trials,
                        uint64_t seed, harness_stats *out);

/* Checks (a) and (b) of the accuracy tests for one configuration:
 * unbiasedness within a Bonferroni-corrected z (at least 4) per item, and
 * |var_ratio - 1| <= 0.15 with the test's own resolution (4 standard errors)
 * inside that band. */
void harness_check_accuracy(hush_ldp_mechanism mech, const uint32_t *domains,
                            size_t n_domains, double epsilon, uint32_t sketch_rows,
                            uint32_t sketch_cols);

/*
 * Privacy audit of one instance with a small output space.  `n_outputs`
 * reports are enumerated by `output(i, report)`; `prob(m, v, report)` is the
 * test's exact model of P[report | v].  Checks: every ratio
 * P[r|v]/P[r|v'] <= e^eps (exactly, in long double); each input's model sums
 * to `total` (1 unless the enumeration is a slice); and the encoder's output
 * frequencies over `samples` draws match the model (chi-square at p = 1e-6)
 * and respect the ratio bound within a 5-sigma sampling tolerance.
 * `index_of` maps an encoded report back to its enumeration index, or
 * returns n_outputs for reports outside the enumerated slice.
 */
typedef void (*harness_output_fn)(const hush_ldp *m, size_t i, uint8_t *report);
typedef long double (*harness_prob_fn)(const hush_ldp *m, uint32_t v,
                                       const uint8_t *report);
typedef size_t (*harness_index_fn)(const hush_ldp *m, const uint8_t *report);

void harness_audit(const hush_ldp *m, size_t n_outputs, harness_output_fn output,
                   harness_prob_fn prob, harness_index_fn index_of, long double total,
                   size_t samples, uint64_t seed);

/* Five accuracy tests, one per epsilon in {0.5, 1, 2, 4, 8}, over the
 * domains 16, 128 and 1000, at n = 10^5. */
#define HARNESS_ACCURACY_TESTS(suite, mech, rows, cols)                    \
    static const uint32_t suite##_domains[] = {16, 128, 1000};             \
    Test(suite, accuracy_eps_0_5, .timeout = 900)                          \
    {                                                                      \
        harness_check_accuracy(mech, suite##_domains, 3, 0.5, rows, cols); \
    }                                                                      \
    Test(suite, accuracy_eps_1, .timeout = 900)                            \
    {                                                                      \
        harness_check_accuracy(mech, suite##_domains, 3, 1.0, rows, cols); \
    }                                                                      \
    Test(suite, accuracy_eps_2, .timeout = 900)                            \
    {                                                                      \
        harness_check_accuracy(mech, suite##_domains, 3, 2.0, rows, cols); \
    }                                                                      \
    Test(suite, accuracy_eps_4, .timeout = 900)                            \
    {                                                                      \
        harness_check_accuracy(mech, suite##_domains, 3, 4.0, rows, cols); \
    }                                                                      \
    Test(suite, accuracy_eps_8, .timeout = 900)                            \
    {                                                                      \
        harness_check_accuracy(mech, suite##_domains, 3, 8.0, rows, cols); \
    }

/* The epsilons every privacy audit runs at. */
#define HARNESS_AUDIT_EPSILONS  \
    {                           \
        0.5, 1.0, 2.0, 4.0, 8.0 \
    }

/* Chi-square upper quantile (Wilson-Hilferty), df >= 1, upper tail p. */
double harness_chi2_quantile(double df, double p_upper);

/* p = threshold / 2^64, exactly, in long double. */
long double harness_tprob(uint64_t threshold);

#endif
