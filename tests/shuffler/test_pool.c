/*
 * test_pool.c - the shuffler's pool: it holds below its threshold, never
 * forwards fewer than n_min, hands over every item exactly once, draws
 * its thresholds with the mean it was given, and permutes uniformly
 * (chi-square over all 120 orders of 5 items, and every item over every
 * position of 50).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "pool.h"

static hush_rng *seeded(uint64_t seed)
{
    hush_rng *r = NULL;
    cr_assert_eq(hush_rng_new_seeded_u64(seed, &r), 0);
    return r;
}

static void take_all(hush__pool *p, size_t *n, int *order, size_t cap)
{
    void **items = NULL;
    size_t *lens = NULL;
    cr_assert_eq(hush__pool_take(p, &items, &lens, n, NULL), 0);
    cr_assert_leq(*n, cap);
    for (size_t i = 0; i < *n; i++) {
        cr_assert_eq(lens[i], sizeof(int));
        memcpy(&order[i], items[i], sizeof(int));
        hush_free(items[i]);
    }
    hush_free(items);
    hush_free(lens);
}

Test(pool, holds_below_its_threshold_and_never_forwards_fewer_than_n_min)
{
    hush_rng *r = seeded(1);
    hush__pool *p = NULL;
    cr_assert_eq(hush__pool_new(10, 5.0, 1000, r, &p, NULL), 0);
    int seen[1000] = {0}, next = 0;
    double sum = 0;
    int batches = 0;
    while (batches < 2000) {
        size_t t = hush__pool_threshold(p);
        cr_assert_geq(t, 10, "never below n_min");
        bool ready = false;
        for (size_t k = 0; k + 1 < t; k++) {
            int v = next++ % 1000;
            cr_assert_eq(hush__pool_add(p, &v, sizeof v, &ready, NULL), 0);
            cr_assert(!ready, "ready at %zu of %zu", k + 1, t);
        }
        void **items = NULL;
        size_t *lens = NULL, n = 0;
        cr_assert_eq(hush__pool_take(p, &items, &lens, &n, NULL), HUSH_ESTATE,
                     "nothing is taken below the threshold");
        int v = next++ % 1000;
        cr_assert_eq(hush__pool_add(p, &v, sizeof v, &ready, NULL), 0);
        cr_assert(ready);
        int order[1000];
        take_all(p, &n, order, 1000);
        cr_assert_eq(n, t, "the whole pool leaves");
        for (size_t i = 0; i < n; i++) {
            seen[order[i]]++;
        }
        sum += (double)t - 10;
        batches++;
    }
    /* every item left exactly once per time it came (each value came
     * next/1000 times, give or take one) */
    for (int i = 0; i < 1000; i++) {
        cr_assert(seen[i] == next / 1000 || seen[i] == next / 1000 + 1, "item %d: %d", i,
                  seen[i]);
    }
    /* the geometric extra: mean 5, sd sqrt(5 * 6) / sqrt(2000) = 0.122 */
    cr_assert(fabs(sum / batches - 5.0) < 4.5 * sqrt(30.0 / 2000), "mean extra %g",
              sum / batches);
    hush__pool_free(p);
    hush_rng_free(r);
}

/* The rank of a permutation of 0..4 among the 120 (its Lehmer code). */
static int rank_of(const int order[5])
{
    static const int fact[5] = {24, 6, 2, 1, 1};
    int rank = 0;
    for (int i = 0; i < 5; i++) {
        int smaller = 0;
        for (int j = i + 1; j < 5; j++) {
            smaller += order[j] < order[i];
        }
        rank += smaller * fact[i];
    }
    return rank;
}

/* Chi-square of 120 counts against 1,000 each. */
static double chi2_of(const long count[120])
{
    double chi2 = 0;
    for (int k = 0; k < 120; k++) {
        chi2 += (count[k] - 1000.0) * (count[k] - 1000.0) / 1000.0;
    }
    return chi2;
}

Test(pool, every_order_is_equally_likely)
{
    hush_rng *r = seeded(2);
    hush__pool *p = NULL;
    cr_assert_eq(hush__pool_new(5, 0.0, 5, r, &p, NULL), 0);
    static long count[120];
    const int trials = 120000; /* 1,000 expected per order */
    for (int t = 0; t < trials; t++) {
        bool ready = false;
        for (int v = 0; v < 5; v++) {
            cr_assert_eq(hush__pool_add(p, &v, sizeof v, &ready, NULL), 0);
        }
        int order[5];
        size_t n = 0;
        take_all(p, &n, order, 5);
        count[rank_of(order)]++;
    }
    double chi2 = chi2_of(count);
    /* 119 degrees of freedom: P[chi2 > 173.6] = 0.001 */
    cr_assert(chi2 < 173.6, "chi-square %g over 119 df", chi2);
    /* and a biased shuffle (swap with any position, a classic mistake)
     * fails the same test: the test can fail */
    static long bad[120];
    for (int t = 0; t < trials; t++) {
        int a[5] = {0, 1, 2, 3, 4};
        for (int i = 0; i < 5; i++) {
            int j = (int)hush_rng_uniform(r, 5), x = a[i];
            a[i] = a[j];
            a[j] = x;
        }
        bad[rank_of(a)]++;
    }
    double chi2_bad = chi2_of(bad);
    cr_assert(chi2_bad > 173.6, "the biased shuffle's chi-square %g", chi2_bad);
    hush__pool_free(p);
    hush_rng_free(r);
}

Test(pool, each_item_lands_anywhere)
{
    hush_rng *r = seeded(3);
    hush__pool *p = NULL;
    cr_assert_eq(hush__pool_new(50, 0.0, 50, r, &p, NULL), 0);
    static long where[50][50];
    for (int t = 0; t < 20000; t++) {
        bool ready = false;
        for (int v = 0; v < 50; v++) {
            cr_assert_eq(hush__pool_add(p, &v, sizeof v, &ready, NULL), 0);
        }
        int order[50];
        size_t n = 0;
        take_all(p, &n, order, 50);
        for (int i = 0; i < 50; i++) {
            where[order[i]][i]++;
        }
    }
    /* item 0 over the 50 positions: 400 expected each; 49 df,
     * P[chi2 > 85.4] = 0.001 */
    for (int item = 0; item < 50; item += 49) {
        double chi2 = 0;
        for (int i = 0; i < 50; i++) {
            chi2 += (where[item][i] - 400.0) * (where[item][i] - 400.0) / 400.0;
        }
        cr_assert(chi2 < 85.4, "item %d: chi-square %g", item, chi2);
    }
    hush__pool_free(p);
    hush_rng_free(r);
}

Test(pool, a_full_pool_refuses_and_bad_settings_are_refused)
{
    hush_rng *r = seeded(4);
    hush__pool *p = NULL;
    cr_assert_eq(hush__pool_new(1, 0, 10, r, &p, NULL), HUSH_EINVAL);
    cr_assert_eq(hush__pool_new(10, 0, 5, r, &p, NULL), HUSH_EINVAL);
    cr_assert_eq(hush__pool_new(2, -1, 5, r, &p, NULL), HUSH_EINVAL);
    cr_assert_eq(hush__pool_new(2, 100.0, 3, r, &p, NULL), 0);
    cr_assert_leq(hush__pool_threshold(p), 3, "the threshold never passes the capacity");
    bool ready = false;
    int v = 1;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(hush__pool_add(p, &v, sizeof v, &ready, NULL), 0);
    }
    cr_assert_eq(hush__pool_add(p, &v, sizeof v, &ready, NULL), HUSH_ETOOBIG);
    cr_assert(ready);
    hush__pool_free(p);
    hush_rng_free(r);
}
