/*
 * ldp.c - what all frequency oracles share: parameter checks, dispatch to the
 * mechanism files, and the estimate summary (standard error, interval,
 * significance).
 *
 * The mechanism files (ldp_grr.c ... ldp_hcms.c) each hold one mechanism's
 * device half and collector half; this file never looks inside a report or a
 * sum, it only routes to them.  Aggregate states live in ldp_agg.c.
 */
#include <math.h>
#include <xxhash.h>

#include "privacy_internal.h"

static const hush__ldp_ops *const ops_table[HUSH_LDP_MECHANISM_COUNT + 1] = {
    [HUSH_LDP_GRR] = &hush__ldp_grr_ops, [HUSH_LDP_OUE] = &hush__ldp_oue_ops,
    [HUSH_LDP_OLH] = &hush__ldp_olh_ops, [HUSH_LDP_HR] = &hush__ldp_hr_ops,
    [HUSH_LDP_CMS] = &hush__ldp_cms_ops, [HUSH_LDP_HCMS] = &hush__ldp_hcms_ops,
};

static const char *const mechanism_names[HUSH_LDP_MECHANISM_COUNT + 1] = {
    "auto", "grr", "oue", "olh", "hr", "cms", "hcms",
};

const char *hush_ldp_mechanism_name(hush_ldp_mechanism mech)
{
    if ((int)mech < 0 || (int)mech > HUSH_LDP_MECHANISM_COUNT) {
        return NULL;
    }
    return mechanism_names[mech];
}

int hush_ldp_mechanism_parse(const char *name, hush_ldp_mechanism *out, hush_err *err)
{
    for (int i = 0; name != NULL && i <= HUSH_LDP_MECHANISM_COUNT; i++) {
        if (strcmp(name, mechanism_names[i]) == 0) {
            *out = (hush_ldp_mechanism)i;
            return 0;
        }
    }
    return hush_err_set(err, HUSH_EINVAL,
                        "unknown mechanism \"%s\" (expected auto, grr, oue, olh, hr, cms "
                        "or hcms)",
                        name != NULL ? name : "(null)");
}

static int ldp_init(const hush_ldp_params *params, hush_ldp *m, hush_err *err)
{
    memset(m, 0, sizeof *m);
    if (params == NULL) {
        return hush_err_set(err, HUSH_EINVAL, "parameters are NULL");
    }
    int mech = (int)params->mechanism;
    if (mech < 1 || mech > HUSH_LDP_MECHANISM_COUNT) {
        return hush_err_set(
            err, HUSH_EINVAL,
            "mechanism must be one of grr, oue, olh, hr, cms, hcms (got %d)", mech);
    }
    if (params->domain < 2 || params->domain > HUSH_LDP_DOMAIN_MAX) {
        return hush_err_set(err, HUSH_ERANGE, "domain must be in [2, %u] (got %u)",
                            HUSH_LDP_DOMAIN_MAX, params->domain);
    }
    if (!(params->epsilon >= HUSH_LDP_EPSILON_MIN) ||
        !(params->epsilon <= HUSH_LDP_EPSILON_MAX)) {
        return hush_err_set(err, HUSH_ERANGE, "epsilon must be in [%g, %g] (got %g)",
                            HUSH_LDP_EPSILON_MIN, HUSH_LDP_EPSILON_MAX, params->epsilon);
    }
    m->params = *params;
    /* Fields a mechanism does not use are zeroed, so that equal mechanisms
     * have equal parameters (merges and checkpoints compare them). */
    if (params->mechanism != HUSH_LDP_OLH) {
        m->params.olh_g = 0;
    }
    if (params->mechanism != HUSH_LDP_CMS && params->mechanism != HUSH_LDP_HCMS) {
        m->params.sketch_rows = 0;
        m->params.sketch_cols = 0;
        m->params.hash_seed = 0;
    }
    m->ops = ops_table[mech];
    return m->ops->init(m, err);
}

int hush_ldp_new(const hush_ldp_params *params, hush_ldp **out, hush_err *err)
{
    hush_ldp tmp;
    int rc = ldp_init(params, &tmp, err);
    if (rc != 0) {
        return rc;
    }
    hush_ldp *m = hush_malloc(sizeof *m);
    if (m == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory creating a mechanism");
    }
    *m = tmp;
    *out = m;
    return 0;
}

void hush_ldp_free(hush_ldp *mech)
{
    hush_free(mech);
}

const hush_ldp_params *hush_ldp_get_params(const hush_ldp *mech)
{
    return &mech->params;
}

size_t hush_ldp_report_size(const hush_ldp *mech)
{
    return mech->report_size;
}

unsigned hush_ldp_report_bits(const hush_ldp *mech)
{
    return mech->report_bits;
}

int hush_ldp_encode(const hush_ldp *mech, uint32_t value, hush_rng *rng, uint8_t *report,
                    size_t report_cap, hush_err *err)
{
    if (value >= mech->params.domain) {
        return hush_err_set(err, HUSH_ERANGE, "value must be < domain %u (got %u)",
                            mech->params.domain, value);
    }
    if (report_cap < mech->report_size) {
        return hush_err_set(err, HUSH_EINVAL, "report buffer holds %zu bytes, need %zu",
                            report_cap, mech->report_size);
    }
    mech->ops->encode(mech, value, rng, report);
    return 0;
}

int hush_ldp_encode_key(const hush_ldp *mech, uint64_t key, hush_rng *rng,
                        uint8_t *report, size_t report_cap, hush_err *err)
{
    if (mech->ops->estimate_keys == NULL) {
        return hush_err_set(
            err, HUSH_EUNSUPPORTED,
            "%s reports values by index; only cms and hcms take item keys",
            hush_ldp_mechanism_name(mech->params.mechanism));
    }
    if (report_cap < mech->report_size) {
        return hush_err_set(err, HUSH_EINVAL, "report buffer holds %zu bytes, need %zu",
                            report_cap, mech->report_size);
    }
    mech->ops->encode(mech, key, rng, report);
    return 0;
}

int hush_ldp_check_report(const hush_ldp *mech, const uint8_t *report, size_t report_len,
                          hush_err *err)
{
    if (report == NULL || report_len != mech->report_size) {
        return hush_err_set(err, HUSH_EINVAL, "%s report must be %zu bytes (got %zu)",
                            hush_ldp_mechanism_name(mech->params.mechanism),
                            mech->report_size, report != NULL ? report_len : 0);
    }
    return mech->ops->check(mech, report, err);
}

double hush_ldp_variance(const hush_ldp *mech, double n, double count,
                         double others_sum_sq)
{
    return mech->ops->variance(mech, n, count, others_sum_sq);
}

double hush__pure_variance(double p, double q, double n, double count)
{
    double d = p - q;
    return n * q * (1.0 - q) / (d * d) + count * (1.0 - p - q) / d;
}

int hush__pure_estimate(const hush_ldp_agg *agg, double *counts, hush_err *err)
{
    (void)err;
    const hush_ldp *m = &agg->mech;
    double n = (double)agg->n_reports;
    double scale = 1.0 / (m->p - m->q);
    for (uint32_t v = 0; v < m->params.domain; v++) {
        counts[v] = ((double)agg->cells[v] - n * m->q) * scale;
    }
    return 0;
}

double hush__pure_variance_op(const hush_ldp *m, double n, double count,
                              double others_sum_sq)
{
    (void)others_sum_sq;
    return hush__pure_variance(m->p, m->q, n, count);
}

/* ---- estimates ---- */

static double clamp(double x, double lo, double hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

/* The support probabilities of the pure mechanisms: a report supports an
 * item it holds with ps and any other item with qs, independently across
 * reports.  False for the sketches, whose null depends on hash collisions. */
static bool support_probs(const hush_ldp *m, double *ps, double *qs)
{
    switch (m->params.mechanism) {
    case HUSH_LDP_GRR:
    case HUSH_LDP_OUE:
    case HUSH_LDP_OLH:
        *ps = m->p;
        *qs = m->q;
        return true;
    case HUSH_LDP_HR:
        /* a column agrees with the item's sign for exactly half of the K
         * columns when the report holds another item: qs = 1/2 */
        *ps = m->p;
        *qs = 0.5;
        return true;
    default:
        return false;
    }
}

bool hush_ldp_has_significance(const hush_ldp *mech)
{
    double ps, qs;
    return support_probs(mech, &ps, &qs);
}

/* Beyond this many supports on both sides the binomial is close enough to
 * normal (skewness below 0.025) for the Wald interval of the variance
 * formula; below it the interval is exact (Clopper-Pearson). */
#define EXACT_CI_MAX 2000
/* the intervals memo: one pair per support count within EXACT_CI_MAX of 0
 * or of n */
#define MEMO_SLOTS (2 * ((size_t)EXACT_CI_MAX + 1) + 1)
#define FAMILY_ALPHA 0.05

/* Turns raw counts into estimates.  For the sketches the collision term needs
 * the sum of squared counts of the other items; it is estimated from the
 * domain's counts with the noise part of E[c^2] = c^2 + Var subtracted.
 * z > 0: the per-item test count > z sigma0 (no family-wise claim); z <= 0:
 * the exact family-wise test for the pure mechanisms, none for sketches. */
static void summarize(const hush_ldp_agg *agg, const double *counts, size_t n_items,
                      double z, double sum_sq, double *memo, hush_ldp_estimate *out)
{
    const hush_ldp *m = &agg->mech;
    double n = (double)agg->n_reports;
    uint64_t nn = agg->n_reports;
    double ps = 0, qs = 0;
    bool pure = support_probs(m, &ps, &qs);
    /* the z test's null: count 0, every report belonging to the other
     * items (for the sketches, their collisions are part of the spread) */
    double var0 = m->ops->variance(m, n, 0.0, sum_sq);
    double sigma0 = sqrt(var0 > 0.0 ? var0 : 0.0);
    /* the exact test's null: supports ~ Binomial(n, qs); Bonferroni over
     * the d items of the domain */
    uint64_t critical = UINT64_MAX;
    if (pure && z <= 0.0 && nn > 0) {
        critical = hush__binom_critical(nn, qs, FAMILY_ALPHA / (double)m->params.domain);
    }
    for (size_t i = 0; memo != NULL && i < 2 * MEMO_SLOTS; i++) {
        memo[i] = NAN; /* not computed yet */
    }
    for (size_t i = 0; i < n_items; i++) {
        double c = counts[i];
        double plug = clamp(c, 0.0, n);
        double others = sum_sq - plug * plug;
        double var = m->ops->variance(m, n, plug, others > 0.0 ? others : 0.0);
        double se = sqrt(var > 0.0 ? var : 0.0);
        out[i].count = c;
        out[i].std_error = se;
        out[i].ci_low = c - 1.959963984540054 * se;
        out[i].ci_high = c + 1.959963984540054 * se;
        out[i].frequency = n > 0.0 ? c / n : 0.0;
        if (z > 0.0) {
            out[i].significant = n > 0.0 && c > z * sigma0;
        } else {
            out[i].significant = false;
        }
        if (!pure || nn == 0) {
            continue;
        }
        double supports = nearbyint(c * (ps - qs) + n * qs);
        supports = clamp(supports, 0.0, n);
        uint64_t sc = (uint64_t)supports;
        if (z <= 0.0) {
            out[i].significant = sc >= critical;
        }
        if (supports <= EXACT_CI_MAX || n - supports <= EXACT_CI_MAX) {
            /* many items share a support count (the absent ones, mostly):
             * each distinct count's interval is computed once */
            size_t slot = supports <= EXACT_CI_MAX
                              ? (size_t)sc
                              : (size_t)EXACT_CI_MAX + 1 + (size_t)(nn - sc);
            double lo, hi;
            if (memo != NULL && !isnan(memo[2 * slot])) {
                lo = memo[2 * slot];
                hi = memo[2 * slot + 1];
            } else {
                hush__clopper_pearson(nn, sc, FAMILY_ALPHA, &lo, &hi);
                if (memo != NULL) {
                    memo[2 * slot] = lo;
                    memo[2 * slot + 1] = hi;
                }
            }
            out[i].ci_low = n * (lo - qs) / (ps - qs);
            out[i].ci_high = n * (hi - qs) / (ps - qs);
        }
        /* the count lives in [0, n]: intersecting keeps the coverage */
        out[i].ci_low = clamp(out[i].ci_low, 0.0, n);
        out[i].ci_high = clamp(out[i].ci_high, 0.0, n);
    }
}

static bool is_sketch(const hush_ldp *m)
{
    return m->ops->estimate_keys != NULL;
}

/* sum over the domain of Var(c^_x) when the true counts' squares add up to
 * s2 (the counts themselves plugged in from their estimates) */
static double domain_var_sum(const hush_ldp *m, double n, const double *counts, double s2)
{
    double v = 0.0;
    for (uint32_t i = 0; i < m->params.domain; i++) {
        double plug = clamp(counts[i], 0.0, n);
        double others = s2 - plug * plug;
        v += m->ops->variance(m, n, plug, others > 0.0 ? others : 0.0);
    }
    return v;
}

/*
 * Estimated sum over the domain of true counts squared (sketches only).
 * E[c^_x^2] = c_x^2 + Var c^_x, and a sketch's variance holds a collision
 * part that itself grows with S2 = sum c^2, so sum c^2 = raw - sum Var is an
 * equation in S2: S2 + V(S2) = raw, V(S2) = sum_x Var(c^_x | S2).  V is
 * piecewise linear and non-decreasing in S2, so the root is found from V at
 * two points and refined once.  (Subtracting the noise part alone left the
 * collision part in S2 and made the standard errors 1.5-1.6 times too
 * large at small k m.)
 */
static double domain_sum_sq(const hush_ldp_agg *agg, const double *counts)
{
    const hush_ldp *m = &agg->mech;
    double n = (double)agg->n_reports;
    double raw = 0.0;
    for (uint32_t i = 0; i < m->params.domain; i++) {
        raw += counts[i] * counts[i];
    }
    double v0 = domain_var_sum(m, n, counts, 0.0);
    double s = raw - v0;
    if (!(s > 0.0)) {
        return 0.0;
    }
    for (int it = 0; it < 3; it++) {
        /* the secant of V between 0 and s, then the root of S2 + V = raw */
        double vs = domain_var_sum(m, n, counts, s);
        double slope = (vs - v0) / s;
        double next = (raw - v0) / (1.0 + slope);
        if (!(next > 0.0)) {
            return 0.0;
        }
        if (fabs(next - s) <= 1e-9 * s) {
            s = next;
            break;
        }
        s = next;
    }
    return s;
}

int hush_ldp_agg_estimate_counts(const hush_ldp_agg *agg, double *counts, size_t out_len,
                                 hush_err *err)
{
    if (out_len < agg->mech.params.domain) {
        return hush_err_set(err, HUSH_EINVAL, "output holds %zu items, domain is %u",
                            out_len, agg->mech.params.domain);
    }
    return agg->mech.ops->estimate(agg, counts, err);
}

int hush_ldp_agg_estimate(const hush_ldp_agg *agg, double z, hush_ldp_estimate *out,
                          size_t out_len, hush_err *err)
{
    size_t d = agg->mech.params.domain;
    if (out_len < d) {
        return hush_err_set(err, HUSH_EINVAL, "output holds %zu items, domain is %zu",
                            out_len, d);
    }
    double *counts = hush_calloc(d, sizeof *counts);
    double *memo =
        is_sketch(&agg->mech) ? NULL : hush_malloc(2 * MEMO_SLOTS * sizeof *memo);
    if (counts == NULL || (memo == NULL && !is_sketch(&agg->mech))) {
        hush_free(counts);
        hush_free(memo);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory estimating %zu items", d);
    }
    int rc = agg->mech.ops->estimate(agg, counts, err);
    if (rc == 0) {
        double sum_sq = is_sketch(&agg->mech) ? domain_sum_sq(agg, counts) : 0.0;
        summarize(agg, counts, d, z, sum_sq, memo, out);
    }
    hush_free(counts);
    hush_free(memo);
    return rc;
}

int hush_ldp_agg_estimate_keys(const hush_ldp_agg *agg, const uint64_t *keys,
                               size_t n_keys, double z, hush_ldp_estimate *out,
                               hush_err *err)
{
    const hush_ldp *m = &agg->mech;
    if (!is_sketch(m)) {
        return hush_err_set(
            err, HUSH_EUNSUPPORTED,
            "%s estimates items by index; only cms and hcms take item keys",
            hush_ldp_mechanism_name(m->params.mechanism));
    }
    int rc = 0;
    size_t d = m->params.domain;
    double *domain_counts = hush_calloc(d, sizeof(double));
    double *counts = hush_calloc(n_keys, sizeof(double));
    if (domain_counts == NULL || counts == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory estimating %zu keys", n_keys);
        goto out;
    }
    rc = m->ops->estimate(agg, domain_counts, err);
    if (rc != 0) {
        goto out;
    }
    rc = m->ops->estimate_keys(agg, keys, n_keys, counts, err);
    if (rc != 0) {
        goto out;
    }
    summarize(agg, counts, n_keys, z, domain_sum_sq(agg, domain_counts), NULL, out);
out:
    hush_free(domain_counts);
    hush_free(counts);
    return rc;
}

/* ---- planning ---- */

int hush_ldp_recommend(uint32_t domain, double epsilon, unsigned max_report_bits,
                       hush_ldp_params *out, hush_err *err)
{
    static const hush_ldp_mechanism candidates[] = {HUSH_LDP_GRR,  HUSH_LDP_OUE,
                                                    HUSH_LDP_OLH,  HUSH_LDP_HR,
                                                    HUSH_LDP_HCMS, HUSH_LDP_CMS};
    hush_ldp best;
    double best_var = INFINITY;
    bool found = false;
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        hush_ldp_params p = {
            .mechanism = candidates[i], .domain = domain, .epsilon = epsilon};
        if (candidates[i] == HUSH_LDP_OLH && domain > HUSH_LDP_OLH_AUTO_DOMAIN_MAX) {
            continue;
        }
        if (candidates[i] == HUSH_LDP_OUE && domain > HUSH_LDP_OUE_DOMAIN_MAX) {
            continue;
        }
        hush_ldp m;
        hush_err local = {0};
        int rc = ldp_init(&p, &m, &local);
        if (rc != 0) {
            if (rc == HUSH_ERANGE || candidates[i] == HUSH_LDP_GRR) {
                /* domain or epsilon out of range: the same for every mechanism */
                return hush_err_set(err, rc, "%s", local.msg);
            }
            continue;
        }
        if (max_report_bits != 0 && m.report_bits > max_report_bits) {
            continue;
        }
        /* Variance of an item with count 0 among n = 1 reports: every
         * mechanism's variance is proportional to n.  For the sketches the
         * collision term is included for a uniform spread of one report. */
        double var = m.ops->variance(&m, 1.0, 0.0, 0.0);
        if (var < best_var) {
            best_var = var;
            best = m;
            found = true;
        }
    }
    if (!found) {
        return hush_err_set(err, HUSH_ENOTFOUND,
                            "no mechanism fits reports of %u bits for domain %u",
                            max_report_bits, domain);
    }
    *out = best.params;
    return 0;
}

uint64_t hush_ldp_item_key(const void *bytes, size_t len)
{
    return XXH3_64bits(bytes, len);
}
