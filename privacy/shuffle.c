/*
 * shuffle.c - privacy amplification by shuffling: the central (eps, delta)
 * of n reports, each eps0-LDP, that reach the analyst in a uniformly
 * random order with nothing that says who sent which (Feldman, McMillan,
 * Talwar 2021, "Hiding Among the Clones", FOCS 2021).
 *
 * Their reduction: the shuffled reports of two neighbouring datasets are a
 * post-processing of P and Q, where C ~ Bin(n - 1, e^-eps0) counts the
 * other users' "clones" of the differing user, A ~ Bin(C, 1/2), and with
 * alpha = e^eps0 / (1 + e^eps0)
 *     P = A        w.p. alpha,   A + 1 otherwise,
 *     Q = A + 1    w.p. alpha,   A     otherwise.
 * So delta(eps) <= max(E_C[D_{e^eps}(P_C || Q_C)], E_C[D_{e^eps}(Q_C || P_C)])
 * with D the hockey-stick divergence.
 *
 * Conditioned on C = c both divergences have closed forms: P(x) - e^eps Q(x)
 * is positive exactly for x below the cutoff (c + 1) R / (1 + R), with
 * R = (alpha - e^eps (1 - alpha)) / (e^eps alpha - (1 - alpha)), because
 * Bin(c, 1/2)'s ratio b(x - 1) / b(x) = x / (c + 1 - x) grows with x; the
 * sum over x <= t is alpha F(t) + (1 - alpha) F(t - 1) minus e^eps times
 * (1 - alpha) F(t) + alpha F(t - 1), F the Bin(c, 1/2) CDF.  Q against P is
 * the mirror image above the cutoff (c + 1) / (1 + R).
 *
 * The expectation over C is bounded block by block: the divergences fall
 * as c grows (more clones hide the user better), so over a block of c the
 * larger end-point value bounds it (the smaller bounds it from below); the
 * mass of C outside the blocks counts as divergence 1 in an upper bound.
 * Binary search over eps then finds the smallest eps whose delta is below
 * the target.  This is the method of Apple's ml-shuffling-amplification
 * (computeamplification.py), written anew; its upper-bound branch takes
 * max(deltaq_upperc, deltaq_upperc) for the Q side, where the end points
 * are upperc and lowerc: the lower end is never looked at.  Since the
 * divergence falls with c, the maximum is at lowerc, so that line returns
 * the smaller value, not a bound.  Here both ends are taken (the test
 * checks the difference the typo makes).
 */
#include <math.h>

#include "privacy_internal.h"

#define BLOCKS_MAX 4000
#define SEARCH_ITERS 40
#define SPAN_SD 12.0

/* P[Bin(c, 1/2) <= t] for an integer t. */
static double cdf_half(uint64_t c, double t)
{
    if (t < 0.0) {
        return 0.0;
    }
    if (t >= (double)c) {
        return 1.0;
    }
    return 1.0 - hush__binom_upper(c, 0.5, (uint64_t)t + 1);
}

/* D_{e^eps}(P_c || Q_c) (q_side false) or D_{e^eps}(Q_c || P_c). */
static double divergence(uint64_t c, double eps, double eps0, bool q_side)
{
    double alpha = exp(eps0) / (exp(eps0) + 1.0), ee = exp(eps);
    double num = alpha - ee * (1.0 - alpha), den = ee * alpha - (1.0 - alpha);
    if (num <= 0.0) {
        return 0.0; /* eps >= eps0: the pair is already eps-close */
    }
    double r = num / den;
    if (!q_side) {
        double t = floor((double)(c + 1) * r / (1.0 + r));
        double fp = alpha * cdf_half(c, t) + (1.0 - alpha) * cdf_half(c, t - 1.0);
        double fq = (1.0 - alpha) * cdf_half(c, t) + alpha * cdf_half(c, t - 1.0);
        return fmax(0.0, fp - ee * fq);
    }
    double t = floor((double)(c + 1) / (1.0 + r));
    double fp = alpha * cdf_half(c, t) + (1.0 - alpha) * cdf_half(c, t - 1.0);
    double fq = (1.0 - alpha) * cdf_half(c, t) + alpha * cdf_half(c, t - 1.0);
    return fmax(0.0, (1.0 - fq) - ee * (1.0 - fp));
}

/* P[Bin(m, p) in [lo, hi]]. */
static double mass(uint64_t m, double p, uint64_t lo, uint64_t hi)
{
    return hush__binom_upper(m, p, lo) -
           (hi >= m ? 0.0 : hush__binom_upper(m, p, hi + 1));
}

double hush__shuffle_divergence(uint64_t c, double eps, double eps0, bool q_side)
{
    return divergence(c, eps, eps0, q_side);
}

double hush__shuffle_delta_blocks(uint64_t n, double eps0, double eps, bool upper,
                                  uint64_t step, bool q_one_end, double *q_side)
{
    if (n < 2 || !(eps0 > 0.0) || !(eps >= 0.0)) {
        if (q_side != NULL) {
            *q_side = 1.0;
        }
        return 1.0;
    }
    uint64_t m = n - 1;
    double p = exp(-eps0), mean = (double)m * p, sd = sqrt((double)m * p * (1.0 - p));
    double lo_f = fmax(0.0, floor(mean - SPAN_SD * sd - 1.0));
    double hi_f = fmin((double)m, ceil(mean + SPAN_SD * sd + 1.0));
    uint64_t lo = (uint64_t)lo_f, hi = (uint64_t)hi_f;
    if (step == 0) {
        step = (hi - lo) / BLOCKS_MAX + 1;
    }
    double dp = 0.0, dq = 0.0, covered = 0.0;
    for (uint64_t a = lo; a <= hi; a += step) {
        uint64_t b = a + step - 1 < hi ? a + step - 1 : hi;
        double w = mass(m, p, a, b);
        double pa = divergence(a, eps, eps0, false), pb = divergence(b, eps, eps0, false);
        double qa = divergence(a, eps, eps0, true), qb = divergence(b, eps, eps0, true);
        dp += w * (upper ? fmax(pa, pb) : fmin(pa, pb));
        dq += w * (q_one_end ? qb : upper ? fmax(qa, qb) : fmin(qa, qb));
        covered += w;
    }
    double rest = upper ? fmax(0.0, 1.0 - covered) : 0.0; /* divergence <= 1 there */
    if (q_side != NULL) {
        *q_side = fmin(1.0, dq + rest);
    }
    return fmin(1.0, fmax(dp, dq) + rest);
}

double hush_shuffle_delta(uint64_t n, double eps0, double eps, bool upper)
{
    return hush__shuffle_delta_blocks(n, eps0, eps, upper, 0, false, NULL);
}

double hush_shuffle_closed_form(uint64_t n, double eps0, double delta)
{
    if (n < 2 || !(eps0 > 0.0) || !(delta > 0.0 && delta < 1.0) ||
        eps0 > log((double)n / (16.0 * log(4.0 / delta)))) {
        return NAN; /* outside the theorem's regime */
    }
    double a = 8.0 * sqrt(exp(eps0) * log(4.0 / delta)) / sqrt((double)n);
    double c = 8.0 * exp(eps0) / (double)n;
    double e = log(1.0 + a + c);
    double b = 1.0 - exp(-eps0), d = 1.0 + exp(-eps0 - e);
    return log(1.0 + (b / d) * (a + c));
}

double hush_shuffle_numerical(uint64_t n, double eps0, double delta, bool upper)
{
    if (n < 2 || !(eps0 > 0.0) || !(delta > 0.0 && delta < 1.0)) {
        return NAN;
    }
    double hi = hush_shuffle_closed_form(n, eps0, delta);
    if (!isfinite(hi) || hi > eps0) {
        hi = eps0;
    }
    if (hush_shuffle_delta(n, eps0, hi, upper) > delta) {
        return upper ? eps0 : hi; /* no amplification shown: eps0 itself holds */
    }
    double lo = 0.0;
    for (int i = 0; i < SEARCH_ITERS; i++) {
        double mid = 0.5 * (lo + hi);
        if (hush_shuffle_delta(n, eps0, mid, upper) <= delta) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    return hi;
}
