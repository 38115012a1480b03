/*
 * test_shuffle.c - amplification by shuffling (privacy/shuffle.c) against
 * the published figures of Feldman, McMillan and Talwar (2021) and their
 * code's example (n = 10^5, eps0 = 4, delta = 1e-6: closed form
 * 0.5378040242374512, numerical between 0.16754 and 0.17279), against a
 * brute-force computation of the same reduction, and against the typo of
 * the reference code's upper-bound branch.
 */
#include <criterion/criterion.h>
#include <math.h>

#include "privacy_internal.h"

Test(shuffle, the_published_figures)
{
    cr_assert_float_eq(hush_shuffle_closed_form(100000, 4.0, 1e-6), 0.5378040242374512,
                       1e-12);
    double up = hush_shuffle_numerical(100000, 4.0, 1e-6, true);
    double lo = hush_shuffle_numerical(100000, 4.0, 1e-6, false);
    cr_assert(lo <= up + 1e-12, "%g <= %g", lo, up);
    cr_assert(up >= 0.16754 && up <= 0.17279, "numerical upper %g", up);
    cr_assert(lo >= 0.16754 && lo <= 0.17279, "numerical lower %g", lo);
    /* the numerical bound is what the closed form only bounds */
    cr_assert(up < hush_shuffle_closed_form(100000, 4.0, 1e-6));
    /* and its delta is what it claims */
    cr_assert(hush_shuffle_delta(100000, 4.0, up, true) <= 1e-6);
}

Test(shuffle, nothing_is_claimed_outside_the_regime)
{
    /* eps0 > log(n / (16 log(4 / delta))) */
    cr_assert(isnan(hush_shuffle_closed_form(1000, 4.0, 1e-6)));
    cr_assert(isnan(hush_shuffle_closed_form(100000, 4.0, 0.0)));
    cr_assert(isnan(hush_shuffle_numerical(1, 4.0, 1e-6, true)));
    cr_assert(isnan(hush_shuffle_numerical(100, -1.0, 1e-6, true)));
    /* a handful of reports cannot hide anyone: eps0 itself */
    double few = hush_shuffle_numerical(3, 4.0, 1e-9, true);
    cr_assert(few > 4.0 - 1e-6 && few <= 4.0, "%.12g", few);
    /* more reports never make it worse */
    double prev = INFINITY;
    for (uint64_t n = 1000; n <= 1000000; n *= 10) {
        double e = hush_shuffle_numerical(n, 2.0, 1e-6, true);
        cr_assert(e <= prev && e < 2.0, "n %llu: %g", (unsigned long long)n, e);
        prev = e;
    }
}

/* The reduction's delta by brute force: sum over c and x of
 * max(0, P - e^eps Q) with both distributions built from binomial
 * probabilities, no cutoff, no blocks. */
static double brute(uint64_t n, double eps0, double eps, bool q_side)
{
    double p = exp(-eps0), alpha = exp(eps0) / (exp(eps0) + 1.0), total = 0.0;
    for (uint64_t c = 0; c < n; c++) {
        double wc =
            exp(lgamma((double)n) - lgamma((double)c + 1) - lgamma((double)(n - c)) +
                (double)c * log(p) + (double)(n - 1 - c) * log1p(-p));
        double d = 0.0;
        for (uint64_t x = 0; x <= c + 1; x++) {
            double bx = x <= c ? exp(lgamma((double)c + 1) - lgamma((double)x + 1) -
                                     lgamma((double)(c - x) + 1) - (double)c * log(2.0))
                               : 0.0;
            double bx1 = x >= 1 ? exp(lgamma((double)c + 1) - lgamma((double)x) -
                                      lgamma((double)(c - x) + 2) - (double)c * log(2.0))
                                : 0.0;
            double P = alpha * bx + (1 - alpha) * bx1, Q = (1 - alpha) * bx + alpha * bx1;
            d += q_side ? fmax(0.0, Q - exp(eps) * P) : fmax(0.0, P - exp(eps) * Q);
        }
        total += wc * d;
    }
    return total;
}

Test(shuffle, the_closed_forms_per_clone_count_match_brute_force)
{
    for (double eps = 0.1; eps < 1.0; eps += 0.3) {
        double exact = fmax(brute(60, 1.0, eps, false), brute(60, 1.0, eps, true));
        double got = hush__shuffle_delta_blocks(60, 1.0, eps, true, 1, false, NULL);
        cr_assert_float_eq(got, exact, 1e-12, "eps %g: %g vs %g", eps, got, exact);
    }
    /* and the divergences fall as clones grow: what the block bound uses */
    for (uint64_t c = 0; c < 400; c++) {
        for (int side = 0; side < 2; side++) {
            cr_assert(hush__shuffle_divergence(c + 1, 0.2, 3.0, side) <=
                          hush__shuffle_divergence(c, 0.2, 3.0, side) + 1e-15,
                      "c %llu side %d", (unsigned long long)c, side);
        }
    }
}

Test(shuffle, blocks_bound_the_sum_and_the_reference_typo_does_not)
{
    uint64_t n = 100000;
    double eps0 = 4.0, eps = 0.1698;
    double q_exact, q_up, q_typo;
    double exact = hush__shuffle_delta_blocks(n, eps0, eps, true, 1, false, &q_exact);
    double up = hush__shuffle_delta_blocks(n, eps0, eps, true, 100, false, &q_up);
    double lo = hush__shuffle_delta_blocks(n, eps0, eps, false, 100, false, NULL);
    cr_assert(lo <= exact && exact <= up, "%g <= %g <= %g", lo, exact, up);
    cr_assert(q_exact <= q_up, "the Q side: %g <= %g", q_exact, q_up);
    /* max(deltaq_upperc, deltaq_upperc): the Q side read at the block's
     * upper end only, where its divergence is smallest, falls below the
     * exact sum it claims to bound; max(deltaq_upperc, deltaq_lowerc) does
     * not */
    hush__shuffle_delta_blocks(n, eps0, eps, true, 100, true, &q_typo);
    cr_assert(q_typo < q_exact, "the typo gives %g, the exact sum %g", q_typo, q_exact);
}
