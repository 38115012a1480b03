/*
 * bench/ldp.c - throughput and accuracy of every frequency oracle.
 *
 * For each mechanism, domain size d and epsilon it encodes n reports from a
 * Zipf(1.1) population, adds them to a state, estimates all d items, and
 * prints one JSON object per line:
 *
 *   {"bench":"ldp","mechanism":…,"d":…,"epsilon":…,"n":…,"trials":…,
 *    "encode_per_s":…,"aggregate_per_s":…,"estimate_s":…,"summary_s":…,
 *    "var_ratio":…,"support_counting":…}
 *
 * encode_per_s: reports encoded per second (device half, one core).
 * aggregate_per_s: reports added to the state per second, validation
 * included (one core).  OLH counts each report's support over the whole
 * domain here ("support_counting":"add"); the others have nothing to count.
 * estimate_s: seconds to produce all d count estimates from the state.
 * summary_s: seconds for the full estimates the collector serves (standard
 * errors, exact intervals, the family-wise significance test).
 * var_ratio: the mean squared error over all items and trials divided by the
 * mean of the variance formula (hush_ldp_variance, with the true counts),
 * so 1.0 means the formula is exact.  Trials are repeated, each with fresh
 * randomness (and, for the sketches, a fresh hash family), until at least
 * 4096 item-estimates are pooled, which puts the ratio's own standard error
 * near sqrt(2/4096) = 2.2%.  Timings are medians over the trials.
 *
 * Usage: bench/ldp [--quick]   (--quick: n = 10^5, one epsilon)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "hush_privacy.h"

#define POOL_TARGET 4096
#define MAX_TRIALS 64

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/* Zipf(s) counts over d items adding up to exactly n. */
static void zipf_counts(uint32_t d, uint64_t n, double s, uint64_t *counts)
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

static void die(const char *what, const hush_err *err)
{
    fprintf(stderr, "bench/ldp: %s: %s\n", what, err->msg);
    exit(1);
}

struct config {
    hush_ldp_mechanism mech;
    uint32_t d;
    double epsilon;
    uint64_t n;
};

static void run(const struct config *cfg)
{
    hush_err err = {0};
    hush_ldp_params params = {
        .mechanism = cfg->mech,
        .domain = cfg->d,
        .epsilon = cfg->epsilon,
    };
    uint64_t *counts = calloc(cfg->d, sizeof *counts);
    double *est = calloc(cfg->d, sizeof *est);
    if (counts == NULL || est == NULL) {
        fprintf(stderr, "bench/ldp: out of memory\n");
        exit(1);
    }
    zipf_counts(cfg->d, cfg->n, 1.1, counts);
    double sum_sq = 0.0;
    for (uint32_t i = 0; i < cfg->d; i++) {
        sum_sq += (double)counts[i] * (double)counts[i];
    }

    int trials = (int)((POOL_TARGET + cfg->d - 1) / cfg->d);
    if (trials > MAX_TRIALS) {
        trials = MAX_TRIALS;
    }
    double enc_rate[MAX_TRIALS] = {0}, add_rate[MAX_TRIALS] = {0},
           est_time[MAX_TRIALS] = {0}, sum_time[MAX_TRIALS] = {0};
    double sq_err = 0.0;
    double formula = 0.0;
    uint8_t *reports = NULL;
    size_t rs = 0;
    for (int t = 0; t < trials; t++) {
        params.hash_seed = 0x5eed0000u + (uint64_t)t;
        hush_ldp *m = NULL;
        hush_ldp_agg *agg = NULL;
        hush_rng *rng = NULL;
        if (hush_ldp_new(&params, &m, &err) != 0 ||
            hush_ldp_agg_new(m, &agg, &err) != 0) {
            die("setup", &err);
        }
        if (hush_rng_new_seeded_u64(1000 + (uint64_t)t, &rng) != 0) {
            die("rng", &err);
        }
        rs = hush_ldp_report_size(m);
        if (reports == NULL) {
            reports = malloc(rs * cfg->n);
            if (reports == NULL) {
                fprintf(stderr, "bench/ldp: out of memory for %llu reports\n",
                        (unsigned long long)cfg->n);
                exit(1);
            }
        }
        double t0 = now();
        uint8_t *p = reports;
        for (uint32_t v = 0; v < cfg->d; v++) {
            for (uint64_t c = 0; c < counts[v]; c++, p += rs) {
                if (hush_ldp_encode(m, v, rng, p, rs, &err) != 0) {
                    die("encode", &err);
                }
            }
        }
        double t1 = now();
        if (hush_ldp_agg_add(agg, reports, rs * cfg->n, NULL, &err) != 0) {
            die("add", &err);
        }
        double t2 = now();
        if (hush_ldp_agg_estimate_counts(agg, est, cfg->d, &err) != 0) {
            die("estimate", &err);
        }
        double t3 = now();
        hush_ldp_estimate *full = malloc(cfg->d * sizeof *full);
        if (full == NULL || hush_ldp_agg_estimate(agg, 0.0, full, cfg->d, &err) != 0) {
            die("estimate with intervals", &err);
        }
        double t4 = now();
        free(full);
        sum_time[t] = t4 - t3;
        enc_rate[t] = (double)cfg->n / (t1 - t0);
        add_rate[t] = (double)cfg->n / (t2 - t1);
        est_time[t] = t3 - t2;
        for (uint32_t v = 0; v < cfg->d; v++) {
            double c = (double)counts[v];
            double e = est[v] - c;
            sq_err += e * e;
            formula += hush_ldp_variance(m, (double)cfg->n, c, sum_sq - c * c);
        }
        hush_rng_free(rng);
        hush_ldp_agg_free(agg);
        hush_ldp_free(m);
    }
    printf("{\"bench\":\"ldp\",\"mechanism\":\"%s\",\"d\":%u,\"epsilon\":%g,\"n\":%llu,"
           "\"trials\":%d,\"report_bytes\":%zu,\"encode_per_s\":%.0f,\"aggregate_per_s\":"
           "%.0f,"
           "\"estimate_s\":%.3e,\"summary_s\":%.3e,\"var_ratio\":%.4f,"
           "\"support_counting\":\"%s\"}\n",
           hush_ldp_mechanism_name(cfg->mech), cfg->d, cfg->epsilon,
           (unsigned long long)cfg->n, trials, rs, median(enc_rate, trials),
           median(add_rate, trials), median(est_time, trials), median(sum_time, trials),
           sq_err / formula, cfg->mech == HUSH_LDP_OLH ? "add" : "none");
    fflush(stdout);
    free(reports);
    free(counts);
    free(est);
}

int main(int argc, char **argv)
{
    bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    if (hush_global_init() != 0) {
        fprintf(stderr, "bench/ldp: libsodium failed to initialise\n");
        return 1;
    }
    static const hush_ldp_mechanism mechs[] = {HUSH_LDP_GRR, HUSH_LDP_OUE, HUSH_LDP_OLH,
                                               HUSH_LDP_HR,  HUSH_LDP_CMS, HUSH_LDP_HCMS};
    static const uint32_t domains[] = {64, 1024, 65536, 1u << 20};
    static const double epsilons[] = {1.0, 2.0, 4.0};
    uint64_t n_full = quick ? 100000 : 1000000;
    for (size_t mi = 0; mi < sizeof mechs / sizeof mechs[0]; mi++) {
        hush_ldp_mechanism mech = mechs[mi];
        for (size_t di = 0; di < sizeof domains / sizeof domains[0]; di++) {
            uint32_t d = domains[di];
            bool large_ok =
                mech == HUSH_LDP_HR || mech == HUSH_LDP_CMS || mech == HUSH_LDP_HCMS;
            if (d > 65536 && !large_ok) {
                continue;
            }
            for (size_t ei = 0; ei < (quick ? 1u : sizeof epsilons / sizeof epsilons[0]);
                 ei++) {
                struct config cfg = {
                    .mech = mech, .d = d, .epsilon = epsilons[ei], .n = n_full};
                if (mech == HUSH_LDP_OUE && cfg.n * ((d + 7) / 8) > (UINT64_C(1) << 29)) {
                    cfg.n = (UINT64_C(1) << 29) /
                            ((d + 7) / 8); /* d-bit reports: <= 512 MiB */
                }
                if (mech == HUSH_LDP_OLH && cfg.n * d > (UINT64_C(1) << 31)) {
                    cfg.n = (UINT64_C(1) << 31) / d; /* d hash evaluations per report */
                }
                run(&cfg);
            }
        }
    }
    return 0;
}
