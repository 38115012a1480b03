/*
 * test_split.c - how hush-sim fl deals emails to devices, its Beta
 * sampler, and its paired comparison of per-device accuracies, against the
 * theory and values computed by hand.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "split.h"

static hush_rng *seeded(uint64_t s)
{
    hush_rng *r = NULL;
    cr_assert_eq(hush_rng_new_seeded_u64(s, &r), 0);
    return r;
}

Test(sim_split, names_parse_and_print_back)
{
    sim_split s = {0};
    char name[64];
    static const char *good[] = {"iid", "label-skew:0.1", "preference:0.5", "deal"};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(sim_split_parse(good[i], &s, NULL), 0, "%s", good[i]);
        sim_split_name(&s, name, sizeof name);
        cr_assert_str_eq(name, good[i]);
    }
    static const char *bad[] = {"label-skew:0",  "label-skew:", "preference:1.5",
                                "preference:x",  "skew",        "iid:1",
                                "label-skew:nan"};
    for (size_t i = 0; i < 7; i++) {
        hush_err err = {0};
        cr_assert_eq(sim_split_parse(bad[i], &s, &err), HUSH_EINVAL, "%s", bad[i]);
        cr_assert(strstr(err.msg, "label-skew:ALPHA") != NULL);
    }
}

/* Beta(a, a) has mean 1/2 and variance 1 / (4 (2a + 1)); the sample mean
 * and variance of n draws are checked within 5 standard errors (the
 * variance's from the Beta's fourth central moment). */
static void beta_moments(double a)
{
    enum { N = 200000 };
    hush_rng *rng = seeded(41);
    double sum = 0, ss = 0;
    for (int i = 0; i < N; i++) {
        double x = sim_beta(rng, a, a);
        cr_assert(x >= 0 && x <= 1);
        sum += x;
        ss += (x - 0.5) * (x - 0.5);
    }
    double var = 1 / (4 * (2 * a + 1));
    /* fourth central moment of a symmetric Beta(a, a): 3 var^2 (2a + 1) /
     * (2a + 3) */
    double m4 = 3 * var * var * (2 * a + 1) / (2 * a + 3);
    cr_assert(fabs(sum / N - 0.5) < 5 * sqrt(var / N), "a %g mean %g", a, sum / N);
    cr_assert(fabs(ss / N - var) < 5 * sqrt((m4 - var * var) / N), "a %g var %g vs %g", a,
              ss / N, var);
    hush_rng_free(rng);
}

Test(sim_split, beta_variates_have_the_beta_moments)
{
    beta_moments(0.1); /* the skewed split's: most devices near 0 or 1 */
    beta_moments(1.0); /* uniform */
    beta_moments(5.0);
}

/* A corpus of n emails: every third spam, every fifth ham a newsletter,
 * every 50th unusable. */
typedef struct fake {
    uint32_t label[3000];
    bool newsletter[3000], usable[3000];
    sim_corpus c;
} fake;

static void fake_corpus(fake *f)
{
    for (uint32_t i = 0; i < 3000; i++) {
        f->label[i] = i % 3 == 0;
        f->newsletter[i] = !f->label[i] && i % 5 == 0;
        f->usable[i] = i % 50 != 7;
    }
    f->c = (sim_corpus){f->label, f->newsletter, f->usable, 3000};
}

Test(sim_split, drawn_splits_keep_test_emails_out_of_every_training_set)
{
    static fake f;
    fake_corpus(&f);
    static const char *names[] = {"iid", "label-skew:0.1", "preference:0.5"};
    for (size_t k = 0; k < 3; k++) {
        sim_split s = {.train_per_device = 8, .test_per_device = 10};
        cr_assert_eq(sim_split_parse(names[k], &s, NULL), 0);
        hush_rng *rng = seeded(7 + k);
        sim_held *h = NULL;
        size_t n = 0;
        cr_assert_eq(sim_split_deal(&s, &f.c, 200, rng, &h, &n, NULL, NULL), 0);
        cr_assert_eq(n, 200 * 18);
        static char role[3000]; /* 1 training, 2 test */
        memset(role, 0, sizeof role);
        for (size_t i = 0; i < n; i++) {
            cr_assert_eq(h[i].device, i / 18);
            cr_assert_eq(h[i].test, i % 18 >= 8);
            cr_assert(f.usable[h[i].mail]);
            role[h[i].mail] |= h[i].test ? 2 : 1;
            cr_assert_neq(role[h[i].mail], 3, "%s: email %u trains and tests", names[k],
                          h[i].mail);
        }
        free(h);
        hush_rng_free(rng);
    }
}

Test(sim_split, label_skew_gives_devices_their_own_spam_share)
{
    static fake f;
    fake_corpus(&f);
    sim_split s = {.kind = SIM_SPLIT_LABEL_SKEW,
                   .param = 0.1,
                   .train_per_device = 10,
                   .test_per_device = 10};
    hush_rng *rng = seeded(3);
    sim_held *h = NULL;
    size_t n = 0;
    enum { D = 2000 };
    cr_assert_eq(sim_split_deal(&s, &f.c, D, rng, &h, &n, NULL, NULL), 0);
    /* with p ~ Beta(0.1, 0.1), P(all 20 one label) = E[p^20 + (1-p)^20] =
     * 2 B(20.1, 0.1) / B(0.1, 0.1); computed with lgamma */
    double lb = lgamma(20.1) + lgamma(0.1) - lgamma(20.2);
    double lb0 = 2 * lgamma(0.1) - lgamma(0.2);
    double p_pure = 2 * exp(lb - lb0);
    size_t pure = 0, spam = 0;
    for (size_t d = 0; d < D; d++) {
        size_t s_d = 0;
        for (size_t k = 0; k < 20; k++) {
            s_d += h[d * 20 + k].label;
        }
        pure += s_d == 0 || s_d == 20;
        spam += s_d;
    }
    double sd = sqrt(p_pure * (1 - p_pure) / D);
    cr_assert(fabs((double)pure / D - p_pure) < 5 * sd, "pure share %g vs %g",
              (double)pure / D, p_pure);
    /* the spam share over all devices is E[p] = 1/2, not the corpus's 1/3;
     * per-device draws of 20 given p: var = E[p(1-p)]/20 + var(p) per
     * device, var(p) = 1/(4 (2a + 1)) */
    double var_dev = (0.25 - 1 / (4 * 1.2)) / 20 + 1 / (4 * 1.2);
    cr_assert(fabs((double)spam / (20.0 * D) - 0.5) < 5 * sqrt(var_dev / D));
    free(h);
    hush_rng_free(rng);
}

Test(sim_split, preference_relabels_newsletters_for_strict_users_only)
{
    static fake f;
    fake_corpus(&f);
    sim_split s = {.kind = SIM_SPLIT_PREFERENCE,
                   .param = 0.3,
                   .train_per_device = 10,
                   .test_per_device = 10};
    hush_rng *rng = seeded(5);
    sim_held *h = NULL;
    size_t n = 0;
    enum { D = 1000 };
    static bool strict[D];
    cr_assert_eq(sim_split_deal(&s, &f.c, D, rng, &h, &n, strict, NULL), 0);
    size_t n_strict = 0, flipped = 0;
    for (size_t i = 0; i < n; i++) {
        bool nl = f.newsletter[h[i].mail];
        uint32_t want = f.label[h[i].mail] || (nl && strict[h[i].device]);
        cr_assert_eq(h[i].label, want, "email %u on device %u", h[i].mail, h[i].device);
        flipped += h[i].label != f.label[h[i].mail];
    }
    for (size_t d = 0; d < D; d++) {
        n_strict += strict[d];
    }
    cr_assert(flipped > 0);
    cr_assert(fabs((double)n_strict / D - 0.3) < 5 * sqrt(0.3 * 0.7 / D), "%zu strict",
              n_strict);
    free(h);
    hush_rng_free(rng);
}

Test(sim_split, the_old_deal_gives_each_email_to_one_device)
{
    static fake f;
    fake_corpus(&f);
    sim_split s = {.kind = SIM_SPLIT_DEAL};
    hush_rng *rng = seeded(9);
    sim_held *h = NULL;
    size_t n = 0;
    cr_assert_eq(sim_split_deal(&s, &f.c, 100, rng, &h, &n, NULL, NULL), 0);
    cr_assert_eq(n, 3000 - 60); /* the unusable ones left out */
    static bool seen[3000];
    size_t tests = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert(!seen[h[i].mail]);
        seen[h[i].mail] = true;
        tests += h[i].test;
    }
    /* 3,000 dealt, 30 a device, 6 of them tests; the 60 unusable dropped */
    cr_assert(tests <= 600 && tests >= 600 - 60, "%zu tests", tests);
    free(h);
    hush_rng_free(rng);
}

Test(sim_split, a_corpus_without_spam_is_refused)
{
    static fake f;
    fake_corpus(&f);
    memset(f.label, 0, sizeof f.label);
    sim_split s = {.kind = SIM_SPLIT_IID, .train_per_device = 1, .test_per_device = 1};
    hush_rng *rng = seeded(1);
    sim_held *h = NULL;
    size_t n = 0;
    hush_err err = {0};
    cr_assert_eq(sim_split_deal(&s, &f.c, 10, rng, &h, &n, NULL, &err), HUSH_EINVAL);
    cr_assert(strstr(err.msg, "ham and spam") != NULL);
    hush_rng_free(rng);
}

Test(sim_split, paired_gain_by_hand)
{
    /* gains 0.1, -0.1, 0.2, 0: mean 0.05, sd sqrt(0.05/3), t(3) 3.1824 */
    double acc[4] = {0.9, 0.7, 1.0, 0.5}, base[4] = {0.8, 0.8, 0.8, 0.5};
    sim_paired p;
    sim_paired_gain(acc, base, 4, &p);
    double half = 3.1824 * sqrt(0.05 / 3) / 2;
    cr_assert_float_eq(p.accuracy, 0.775, 1e-12);
    cr_assert_float_eq(p.gain, 0.05, 1e-12);
    cr_assert_float_eq(p.ci_low, 0.05 - half, 1e-12);
    cr_assert_float_eq(p.ci_high, 0.05 + half, 1e-12);
    cr_assert_float_eq(p.worse_share, 0.25, 1e-12);
    /* t's quantile: the table's end, the expansion beyond, the normal's
     * limit */
    cr_assert_float_eq(sim_t975(30), 2.0423, 1e-9);
    cr_assert_float_eq(sim_t975(40), 2.0211, 2e-4);
    cr_assert_float_eq(sim_t975(120), 1.9799, 1e-4);
    cr_assert_float_eq(sim_t975(1000000), 1.95996, 1e-4);
}
