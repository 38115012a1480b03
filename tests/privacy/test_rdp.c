/*
 * test_rdp.c - the RDP accountant against published reference values, and
 * the discrete Gaussian sampler against its exact distribution.
 */
#include <criterion/criterion.h>
#include <math.h>

#include "hush_privacy.h"

static double eps_of(double q, double z, uint64_t steps, double delta)
{
    double e = 0, order = 0;
    hush_err err = {0};
    cr_assert_eq(hush_rdp_epsilon(q, z, steps, delta, &e, &order, &err), 0, "%s",
                 err.msg);
    return e;
}

static void reference(double q, double z, uint64_t steps, double delta, double want,
                      const char *source)
{
    double got = eps_of(q, z, steps, delta);
    cr_assert(fabs(got - want) <= 1e-4 * want,
              "%s: q=%g z=%g T=%llu delta=%g: %.6f, want %.6f", source, q, z,
              (unsigned long long)steps, delta, got, want);
}

Test(rdp, reproduces_published_reference_values)
{
    reference(0.04, 1.5, 2250, 1e-5, 7.32911, "Opacus tests");
    reference(150.0 / 60000, 1.3, 6000, 1e-5, 0.724223, "TF Privacy tests");
    reference(0.001, 1.0, 30000, 1e-7, 1.415499, "TF Privacy tests");
}

Test(rdp, closed_forms_and_orders)
{
    /* no subsampling: the Gaussian mechanism, alpha / (2 z^2) */
    for (double a = 1.5; a < 64; a *= 1.7) {
        cr_assert_float_eq(hush_rdp_sampled_gaussian(1.0, 2.0, a), a / 8.0, 1e-12);
    }
    /* integer and fractional orders agree where they meet: the fractional
     * series at alpha = 3 +- tiny brackets the integer sum */
    double lo = hush_rdp_sampled_gaussian(0.01, 1.1, 3.0 - 1e-9);
    double at = hush_rdp_sampled_gaussian(0.01, 1.1, 3.0);
    double hi = hush_rdp_sampled_gaussian(0.01, 1.1, 3.0 + 1e-9);
    cr_assert(fabs(lo - at) < 1e-6 * at && fabs(hi - at) < 1e-6 * at, "%g %g %g", lo, at,
              hi);
    /* RDP grows with the order, the rate, and 1/z */
    cr_assert_lt(hush_rdp_sampled_gaussian(0.01, 1, 4),
                 hush_rdp_sampled_gaussian(0.01, 1, 8));
    cr_assert_lt(hush_rdp_sampled_gaussian(0.01, 1, 4),
                 hush_rdp_sampled_gaussian(0.02, 1, 4));
    cr_assert_lt(hush_rdp_sampled_gaussian(0.01, 2, 4),
                 hush_rdp_sampled_gaussian(0.01, 1, 4));
    cr_assert(isnan(hush_rdp_sampled_gaussian(1.5, 1, 4)));
    double e = 0;
    cr_assert_eq(hush_rdp_epsilon(0.01, 0, 10, 1e-5, &e, NULL, NULL), HUSH_ERANGE);
    cr_assert_eq(hush_rdp_epsilon(0.01, 1, 0, 1e-5, &e, NULL, NULL), HUSH_ERANGE);
}

Test(rdp, noise_for_a_target_epsilon_inverts_the_accountant)
{
    double targets[] = {1, 4, 8};
    for (int i = 0; i < 3; i++) {
        double z = 0;
        hush_err err = {0};
        cr_assert_eq(hush_rdp_noise_for_epsilon(0.1, 100, 1e-5, targets[i], &z, &err), 0,
                     "%s", err.msg);
        double at = eps_of(0.1, z, 100, 1e-5),
               below = eps_of(0.1, z * (1 - 1e-4), 100, 1e-5);
        cr_assert(at <= targets[i] && below > targets[i] * (1 - 1e-3),
                  "z=%g: eps %g (target %g), slightly less noise %g", z, at, targets[i],
                  below);
    }
}

/* The exact pmf of N_Z(0, s^2): exp(-x^2/(2s^2)) / sum_y exp(-y^2/(2s^2)). */
static double pmf(int64_t x, double s)
{
    double norm = 0;
    for (int64_t y = -(int64_t)(40 * s); y <= (int64_t)(40 * s); y++) {
        norm += exp(-(double)(y * y) / (2 * s * s));
    }
    return exp(-(double)(x * x) / (2 * s * s)) / norm;
}

Test(dgauss, matches_its_exact_distribution)
{
    hush_rng *rng = NULL;
    cr_assert_eq(hush_rng_new_seeded_u64(2024, &rng), 0);
    enum { N = 200000, S = 6, W = 30 };
    static unsigned counts[2 * W + 1];
    double sum = 0, sum2 = 0;
    size_t outside = 0;
    for (int i = 0; i < N; i++) {
        int64_t x = hush_discrete_gaussian(rng, S);
        sum += (double)x;
        sum2 += (double)(x * x);
        if (x < -W || x > W) {
            outside++;
        } else {
            counts[x + W]++;
        }
    }
    /* mean 0, variance about s^2 (exactly sum x^2 pmf(x), slightly below) */
    double var_exact = 0;
    for (int x = -40 * S; x <= 40 * S; x++) {
        var_exact += (double)x * x * pmf(x, S);
    }
    double mean = sum / N, var = sum2 / N - mean * mean;
    /* standard errors: sd/sqrt(N) for the mean, var*sqrt(2/N) for the
     * variance (near-normal); 5 of them */
    cr_assert(fabs(mean) < 5 * S / sqrt(N), "mean %g", mean);
    cr_assert(fabs(var - var_exact) < 5 * var_exact * sqrt(2.0 / N), "var %g, exact %g",
              var, var_exact);
    /* chi-square over [-W, W] (P(outside) < 1e-6): 61 cells, 60 degrees of
     * freedom; the 1e-6 upper quantile of chi2(60) is about 130 */
    double chi2 = 0;
    for (int x = -W; x <= W; x++) {
        double e = N * pmf(x, S);
        chi2 += (counts[x + W] - e) * (counts[x + W] - e) / e;
    }
    cr_assert_eq(outside, 0);
    cr_assert_lt(chi2, 130, "chi-square %g", chi2);
    /* sigma 0 is no noise; a large sigma stays within its tails */
    cr_assert_eq(hush_discrete_gaussian(rng, 0), 0);
    for (int i = 0; i < 1000; i++) {
        int64_t x = hush_discrete_gaussian(rng, 1u << 20);
        cr_assert(x > -(7LL << 20) && x < (7LL << 20), "draw %lld", (long long)x);
    }
    hush_rng_free(rng);
}
