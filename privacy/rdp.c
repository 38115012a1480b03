/*
 * rdp.c - Rényi-DP accounting of the Poisson-subsampled Gaussian mechanism,
 * the accountant of DP-FedAvg and DP-SGD.
 *
 * One step releases a sum over a Poisson sample (rate q) of contributions
 * of L2 norm <= S, plus N(0, z^2 S^2) noise per coordinate.  Its RDP at
 * order alpha is log(A_alpha) / (alpha - 1) (Mironov, Talwar, Zhang 2019,
 * "Rényi Differential Privacy of the Sampled Gaussian Mechanism"):
 *   integer alpha:  A = sum_k C(alpha, k) (1-q)^(alpha-k) q^k exp((k^2-k) / (2 z^2))
 *   fractional:     the two series of their Section 3.3, with erfc terms,
 * computed in log space.  T steps compose: R_T(alpha) = T R(alpha).  The
 * conversion to (epsilon, delta) is Balle et al. 2020 ("Hypothesis testing
 * interpretations and Rényi DP", Thm 21), as in Opacus and TF Privacy:
 *   epsilon = min over alpha of R_T(alpha) + log1p(-1/alpha)
 *                                           - log(delta alpha) / (alpha - 1).
 * The default orders are the union of Opacus's and TF Privacy's, so both
 * projects' reference values are reproduced (tests/privacy/test_rdp.c).
 */
#include <float.h>
#include <math.h>

#include "privacy_internal.h"

static const double default_orders[] = {
    1.1,  1.2,   1.25,  1.3,  1.4,  1.5,  1.6,  1.7,  1.75, 1.8,  1.9,  2.0,  2.1,  2.2,
    2.25, 2.3,   2.4,   2.5,  2.6,  2.7,  2.8,  2.9,  3.0,  3.1,  3.2,  3.3,  3.4,  3.5,
    3.6,  3.7,   3.8,   3.9,  4.0,  4.1,  4.2,  4.3,  4.4,  4.5,  4.6,  4.7,  4.8,  4.9,
    5.0,  5.1,   5.2,   5.3,  5.4,  5.5,  5.6,  5.7,  5.8,  5.9,  6.0,  6.1,  6.2,  6.3,
    6.4,  6.5,   6.6,   6.7,  6.8,  6.9,  7.0,  7.1,  7.2,  7.3,  7.4,  7.5,  7.6,  7.7,
    7.8,  7.9,   8.0,   8.1,  8.2,  8.3,  8.4,  8.5,  8.6,  8.7,  8.8,  8.9,  9.0,  9.1,
    9.2,  9.3,   9.4,   9.5,  9.6,  9.7,  9.8,  9.9,  10.0, 10.1, 10.2, 10.3, 10.4, 10.5,
    10.6, 10.7,  10.8,  10.9, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0,
    21.0, 22.0,  23.0,  24.0, 25.0, 26.0, 27.0, 28.0, 29.0, 30.0, 31.0, 32.0, 33.0, 34.0,
    35.0, 36.0,  37.0,  38.0, 39.0, 40.0, 41.0, 42.0, 43.0, 44.0, 45.0, 46.0, 47.0, 48.0,
    49.0, 50.0,  51.0,  52.0, 53.0, 54.0, 55.0, 56.0, 57.0, 58.0, 59.0, 60.0, 61.0, 62.0,
    63.0, 128.0, 256.0, 512.0};

size_t hush_rdp_default_orders(const double **orders)
{
    *orders = default_orders;
    return sizeof default_orders / sizeof default_orders[0];
}

static double log_add(double a, double b)
{
    if (a == -INFINITY) {
        return b;
    }
    if (b == -INFINITY) {
        return a;
    }
    double m = a > b ? a : b;
    return m + log1p(exp(-fabs(a - b)));
}

/* log(exp(a) - exp(b)), a >= b */
static double log_sub(double a, double b)
{
    if (b == -INFINITY) {
        return a;
    }
    if (a <= b) {
        return -INFINITY;
    }
    return a + log1p(-exp(b - a));
}

/* log(erfc(x)), accurate where erfc underflows (x > ~26). */
static double log_erfc(double x)
{
    double r = erfc(x);
    if (r > DBL_MIN * 1e10) {
        return log(r);
    }
    /* asymptotic expansion: erfc(x) ~ exp(-x^2) / (x sqrt(pi)) (1 - 1/(2x^2)
     * + 3/(4x^4) - 15/(8x^6)) */
    double x2 = x * x;
    return -x2 - log(x) - 0.5 * log(M_PI) +
           log1p(-1.0 / (2 * x2) + 3.0 / (4 * x2 * x2) - 15.0 / (8 * x2 * x2 * x2));
}

static double log_a_int(double q, double z, unsigned alpha)
{
    double la = -INFINITY;
    double lq = log(q), l1q = log1p(-q);
    for (unsigned k = 0; k <= alpha; k++) {
        double lc = lgamma(alpha + 1.0) - lgamma(k + 1.0) - lgamma(alpha - k + 1.0);
        double s = lc + k * lq + (alpha - k) * l1q + ((double)k * k - k) / (2 * z * z);
        la = log_add(la, s);
    }
    return la;
}

static double log_a_frac(double q, double z, double alpha)
{
    double la0 = -INFINITY, la1 = -INFINITY;
    double z0 = z * z * log(1.0 / q - 1.0) + 0.5;
    double lq = log(q), l1q = log1p(-q);
    double coef = 1.0; /* the generalized binomial C(alpha, i), by recurrence */
    for (unsigned i = 0; i < 100000; i++) {
        if (i > 0) {
            coef *= (alpha - (i - 1)) / (double)i;
        }
        if (coef == 0.0) {
            break;
        }
        double lc = log(fabs(coef));
        double j = alpha - i;
        double lt0 = lc + i * lq + j * l1q;
        double lt1 = lc + j * lq + i * l1q;
        double le0 = log(0.5) + log_erfc((i - z0) / (M_SQRT2 * z));
        double le1 = log(0.5) + log_erfc((z0 - j) / (M_SQRT2 * z));
        double ls0 = lt0 + ((double)i * i - i) / (2 * z * z) + le0;
        double ls1 = lt1 + (j * j - j) / (2 * z * z) + le1;
        if (coef > 0) {
            la0 = log_add(la0, ls0);
            la1 = log_add(la1, ls1);
        } else {
            la0 = log_sub(la0, ls0);
            la1 = log_sub(la1, ls1);
        }
        if ((ls0 > ls1 ? ls0 : ls1) < -30) {
            break;
        }
    }
    return log_add(la0, la1);
}

double hush_rdp_sampled_gaussian(double q, double z, double alpha)
{
    if (!(q >= 0 && q <= 1) || !(z > 0) || !(alpha > 1)) {
        return NAN;
    }
    if (q == 0) {
        return 0;
    }
    if (q == 1.0) {
        return alpha / (2 * z * z);
    }
    if (isinf(alpha)) {
        return INFINITY;
    }
    double la = alpha == floor(alpha) && alpha < 1e6 ? log_a_int(q, z, (unsigned)alpha)
                                                     : log_a_frac(q, z, alpha);
    return la / (alpha - 1);
}

int hush_rdp_epsilon(double q, double z, uint64_t steps, double delta, double *epsilon,
                     double *best_order, hush_err *err)
{
    if (!(q > 0 && q <= 1) || !(z > 0) || !isfinite(z) || !(delta > 0 && delta < 1) ||
        steps == 0) {
        return hush_err_set(
            err, HUSH_ERANGE,
            "the accountant needs q in (0, 1], z > 0, delta in (0, 1) and "
            "steps > 0 (got q=%g z=%g delta=%g steps=%llu)",
            q, z, delta, (unsigned long long)steps);
    }
    const double *orders = NULL;
    size_t n = hush_rdp_default_orders(&orders);
    double best = INFINITY, at = NAN;
    for (size_t i = 0; i < n; i++) {
        double a = orders[i];
        double r = hush_rdp_sampled_gaussian(q, z, a) * (double)steps;
        double e = r + log1p(-1.0 / a) - (log(delta) + log(a)) / (a - 1);
        if (isfinite(e) && e < best) {
            best = e;
            at = a;
        }
    }
    *epsilon = best > 0 ? best : 0;
    if (best_order != NULL) {
        *best_order = at;
    }
    return 0;
}

int hush_rdp_noise_for_epsilon(double q, uint64_t steps, double delta, double target,
                               double *z, hush_err *err)
{
    if (!(target > 0) || !isfinite(target)) {
        return hush_err_set(err, HUSH_ERANGE,
                            "the target epsilon must be positive (got %g)", target);
    }
    double lo = 0.01, hi = 1.0, eps = 0;
    int rc = 0;
    /* epsilon falls as z grows: find a bracket, then bisect */
    for (;;) {
        if ((rc = hush_rdp_epsilon(q, hi, steps, delta, &eps, NULL, err)) != 0) {
            return rc;
        }
        if (eps <= target) {
            break;
        }
        lo = hi;
        hi *= 2;
        if (hi > 1e6) {
            return hush_err_set(err, HUSH_ERANGE,
                                "no noise multiplier up to 1e6 reaches epsilon %g",
                                target);
        }
    }
    for (int i = 0; i < 60 && hi - lo > 1e-6 * hi; i++) {
        double mid = 0.5 * (lo + hi);
        if ((rc = hush_rdp_epsilon(q, mid, steps, delta, &eps, NULL, err)) != 0) {
            return rc;
        }
        if (eps <= target) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    *z = hi;
    return 0;
}
