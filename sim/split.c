/*
 * split.c - dealing a corpus to simulated devices, and paired comparisons
 * of per-device accuracies (sim/split.h).
 */
#include "split.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sim_split_parse(const char *s, sim_split *out, hush_err *err)
{
    char *end = NULL;
    if (strcmp(s, "deal") == 0 || strcmp(s, "iid") == 0) {
        out->kind = s[0] == 'd' ? SIM_SPLIT_DEAL : SIM_SPLIT_IID;
        out->param = 0;
        return 0;
    }
    if (strncmp(s, "label-skew:", 11) == 0) {
        out->kind = SIM_SPLIT_LABEL_SKEW;
        out->param = strtod(s + 11, &end);
        if (end != s + 11 && *end == '\0' && out->param > 0 && isfinite(out->param)) {
            return 0;
        }
    } else if (strncmp(s, "preference:", 11) == 0) {
        out->kind = SIM_SPLIT_PREFERENCE;
        out->param = strtod(s + 11, &end);
        if (end != s + 11 && *end == '\0' && out->param >= 0 && out->param <= 1) {
            return 0;
        }
    }
    return hush_err_set(err, HUSH_EINVAL,
                        "a split is deal, iid, label-skew:ALPHA (ALPHA > 0) or "
                        "preference:SHARE (SHARE in [0, 1]), not \"%s\"",
                        s);
}

void sim_split_name(const sim_split *s, char *out, size_t cap)
{
    switch (s->kind) {
    case SIM_SPLIT_DEAL:
        snprintf(out, cap, "deal");
        break;
    case SIM_SPLIT_IID:
        snprintf(out, cap, "iid");
        break;
    case SIM_SPLIT_LABEL_SKEW:
        snprintf(out, cap, "label-skew:%g", s->param);
        break;
    case SIM_SPLIT_PREFERENCE:
        snprintf(out, cap, "preference:%g", s->param);
        break;
    }
}

/* A standard normal variate (Box-Muller; one of the pair). */
static double normal(hush_rng *rng)
{
    double u = 1.0 - hush_rng_unit(rng); /* (0, 1] */
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * hush_rng_unit(rng));
}

/* A Gamma(a, 1) variate: Marsaglia and Tsang's squeeze for a >= 1; below
 * one, Gamma(a + 1) U^(1/a), kept in logs so tiny shapes do not underflow
 * to a zero that would make X / (X + Y) undefined. */
static double log_gamma_variate(hush_rng *rng, double a)
{
    double boost = 0;
    if (a < 1) {
        boost = log(1.0 - hush_rng_unit(rng)) / a;
        a += 1;
    }
    double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = normal(rng), v = 1.0 + c * x;
        if (v <= 0) {
            continue;
        }
        v = v * v * v;
        double u = 1.0 - hush_rng_unit(rng);
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v)) {
            return log(d * v) + boost;
        }
    }
}

double sim_beta(hush_rng *rng, double a, double b)
{
    double lx = log_gamma_variate(rng, a), ly = log_gamma_variate(rng, b);
    /* X / (X + Y) = 1 / (1 + exp(ly - lx)) */
    return 1.0 / (1.0 + exp(ly - lx));
}

/* The usable emails of a pool (test or training), by label. */
typedef struct pool {
    uint32_t *of[2];
    size_t n[2];
} pool;

static void pool_free(pool *p)
{
    free(p->of[0]);
    free(p->of[1]);
}

/* A random fifth of the usable emails as the test pool, the rest for
 * training. */
static int pools(const sim_corpus *c, hush_rng *rng, pool *train, pool *test)
{
    for (int l = 0; l < 2; l++) {
        train->of[l] = calloc(c->n + 1, sizeof(uint32_t));
        test->of[l] = calloc(c->n + 1, sizeof(uint32_t));
        if (train->of[l] == NULL || test->of[l] == NULL) {
            return HUSH_ENOMEM;
        }
    }
    for (size_t i = 0; i < c->n; i++) {
        if (!c->usable[i]) {
            continue;
        }
        uint32_t l = c->label[i] != 0;
        pool *p = hush_rng_uniform(rng, 5) == 0 ? test : train;
        p->of[l][p->n[l]++] = (uint32_t)i;
    }
    return 0;
}

/* One drawn email of a device: its label first when the split skews
 * labels, else uniformly from the pool. */
static sim_held draw(const sim_split *s, const sim_corpus *c, const pool *p, double spam,
                     bool strict, hush_rng *rng)
{
    uint32_t mail;
    if (s->kind == SIM_SPLIT_LABEL_SKEW) {
        uint32_t l = hush_rng_unit(rng) < spam;
        mail = p->of[l][hush_rng_uniform(rng, p->n[l])];
    } else {
        uint64_t k = hush_rng_uniform(rng, p->n[0] + p->n[1]);
        mail = k < p->n[0] ? p->of[0][k] : p->of[1][k - p->n[0]];
    }
    uint32_t label = c->label[mail] != 0;
    if (strict && label == 0 && c->newsletter[mail]) {
        label = 1; /* this user treats newsletters as unwanted */
    }
    return (sim_held){.mail = mail, .label = label};
}

/* Every email to one device at random; every fifth of a device's is a test
 * email.  The unusable ones are dealt too and then dropped, so a deal is
 * the one the benchmark made before the splits (its figures replay). */
static int deal_each_once(const sim_corpus *c, size_t devices, hush_rng *rng, sim_held *h,
                          size_t *n_out)
{
    size_t n = c->n;
    for (size_t i = 0; i < n; i++) {
        h[i] = (sim_held){.mail = (uint32_t)i, .label = c->label[i] != 0};
    }
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)hush_rng_uniform(rng, i);
        sim_held t = h[i - 1];
        h[i - 1] = h[j];
        h[j] = t;
    }
    size_t *seen = calloc(devices, sizeof *seen);
    if (seen == NULL) {
        return HUSH_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        h[i].device = (uint32_t)(i % devices);
        h[i].test = seen[h[i].device]++ % 5 == 4;
    }
    free(seen);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (c->usable[h[i].mail]) {
            h[kept++] = h[i];
        }
    }
    *n_out = kept;
    return 0;
}

int sim_split_deal(const sim_split *s, const sim_corpus *c, size_t devices, hush_rng *rng,
                   sim_held **out, size_t *n_out, bool *strict, hush_err *err)
{
    size_t per = s->train_per_device + s->test_per_device;
    size_t cap = s->kind == SIM_SPLIT_DEAL ? c->n : devices * per;
    sim_held *h = calloc(cap + 1, sizeof *h);
    if (h == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory dealing the corpus");
    }
    if (strict != NULL) {
        memset(strict, 0, devices * sizeof *strict);
    }
    if (s->kind == SIM_SPLIT_DEAL) {
        if (deal_each_once(c, devices, rng, h, n_out) != 0) {
            free(h);
            return hush_err_set(err, HUSH_ENOMEM, "out of memory dealing the corpus");
        }
        *out = h;
        return 0;
    }
    pool train = {0}, test = {0};
    int rc = pools(c, rng, &train, &test);
    if (rc != 0) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory dealing the corpus");
    } else if (train.n[0] == 0 || train.n[1] == 0 || test.n[0] == 0 || test.n[1] == 0) {
        rc = hush_err_set(err, HUSH_EINVAL,
                          "the corpus needs usable ham and spam in both pools");
    }
    size_t n = 0;
    for (size_t d = 0; d < devices && rc == 0; d++) {
        double spam =
            s->kind == SIM_SPLIT_LABEL_SKEW ? sim_beta(rng, s->param, s->param) : 0;
        bool st = s->kind == SIM_SPLIT_PREFERENCE && hush_rng_unit(rng) < s->param;
        if (strict != NULL) {
            strict[d] = st;
        }
        for (size_t k = 0; k < per; k++) {
            bool is_test = k >= s->train_per_device;
            h[n] = draw(s, c, is_test ? &test : &train, spam, st, rng);
            h[n].device = (uint32_t)d;
            h[n++].test = is_test;
        }
    }
    pool_free(&train);
    pool_free(&test);
    if (rc != 0) {
        free(h);
        return rc;
    }
    *out = h;
    *n_out = n;
    return 0;
}

double sim_t975(size_t df)
{
    /* the 0.975 quantile of Student's t for 1 .. 30 degrees of freedom */
    static const double table[30] = {
        12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
        2.2010,  2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
        2.0796,  2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423};
    if (df == 0) {
        return INFINITY;
    }
    if (df <= 30) {
        return table[df - 1];
    }
    /* beyond: the Cornish-Fisher expansion about the normal quantile
     * (Abramowitz and Stegun 26.7.5), within 1e-4 at 31 and closer after */
    double z = 1.959963984540054, v = (double)df, z3 = z * z * z, z5 = z3 * z * z;
    return z + (z3 + z) / (4 * v) + (5 * z5 + 16 * z3 + 3 * z) / (96 * v * v);
}

void sim_paired_gain(const double *acc, const double *base, size_t n, sim_paired *out)
{
    *out = (sim_paired){0};
    if (n == 0) {
        return;
    }
    double sum = 0, gain = 0, worse = 0;
    for (size_t i = 0; i < n; i++) {
        sum += acc[i];
        gain += acc[i] - base[i];
        worse += acc[i] < base[i];
    }
    double mean = gain / (double)n, ss = 0;
    for (size_t i = 0; i < n; i++) {
        double d = acc[i] - base[i] - mean;
        ss += d * d;
    }
    double half =
        n > 1 ? sim_t975(n - 1) * sqrt(ss / (double)(n - 1)) / sqrt((double)n) : INFINITY;
    *out = (sim_paired){.accuracy = sum / (double)n,
                        .gain = mean,
                        .ci_low = mean - half,
                        .ci_high = mean + half,
                        .worse_share = worse / (double)n};
}
