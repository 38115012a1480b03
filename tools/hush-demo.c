/*
 * hush-demo - what local differential privacy buys and costs, in one screen.
 *
 * 100,000 simulated users each hold one favourite emoji, drawn from a Zipf
 * distribution over 64 emoji.  Each user's device randomizes its vote at
 * epsilon = 4 (Apple's per-donation budget for emoji, 2017) with every
 * mechanism in turn; the collector sees only the randomized reports and
 * estimates the top 10, printed next to the truth it never saw.
 *
 * The population and the randomness are seeded, so the demo prints the same
 * numbers every time.  Usage: hush-demo [--users N] [--epsilon E]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hush_privacy.h"

static const char *const emoji[] = {
    "face with tears of joy",
    "red heart",
    "rolling on the floor laughing",
    "thumbs up",
    "loudly crying face",
    "folded hands",
    "face blowing a kiss",
    "smiling face with hearts",
    "smiling face with heart-eyes",
    "smiling face with smiling eyes",
    "party popper",
    "grinning face with sweat",
    "sparkles",
    "fire",
    "pleading face",
    "beaming face with smiling eyes",
    "face with rolling eyes",
    "winking face",
    "clapping hands",
    "hundred points",
    "thinking face",
    "unamused face",
    "relieved face",
    "flexed biceps",
    "sparkling heart",
    "weary face",
    "face savoring food",
    "OK hand",
    "grimacing face",
    "upside-down face",
    "star-struck",
    "sleeping face",
    "yawning face",
    "partying face",
    "skull",
    "eyes",
    "raising hands",
    "purple heart",
    "sun",
    "rainbow",
    "pizza",
    "cat face",
    "dog face",
    "rocket",
    "birthday cake",
    "balloon",
    "camera",
    "musical note",
    "soccer ball",
    "crown",
    "gem stone",
    "cherry blossom",
    "four leaf clover",
    "snowflake",
    "umbrella",
    "hot beverage",
    "tada ghost",
    "alien",
    "robot",
    "unicorn",
    "butterfly",
    "sunflower",
    "bouquet",
    "globe",
};
#define D ((uint32_t)(sizeof emoji / sizeof emoji[0]))

static int fail(const char *what, const hush_err *err)
{
    fprintf(stderr, "hush-demo: %s: %s\n", what, err->msg);
    return 1;
}

struct ranked {
    uint32_t item;
    double estimate;
};

static int by_estimate(const void *a, const void *b)
{
    double x = ((const struct ranked *)a)->estimate;
    double y = ((const struct ranked *)b)->estimate;
    return (x < y) - (x > y);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("hush-demo %s\n", HUSH_VERSION_STRING);
        return 0;
    }
    uint64_t users = 100000;
    double epsilon = 4.0;
    hush_err err = {0};
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--users") == 0) {
            if (hush_parse_u64(argv[++i], 100, 100000000, "--users", &users, &err) != 0) {
                return fail("usage", &err);
            }
        } else if (i + 1 < argc && strcmp(argv[i], "--epsilon") == 0) {
            if (hush_parse_double(argv[++i], 0.01, HUSH_LDP_EPSILON_MAX, "--epsilon",
                                  &epsilon, &err) != 0) {
                return fail("usage", &err);
            }
        } else {
            fprintf(stderr, "usage: hush-demo [--users N] [--epsilon E]\n");
            return 2;
        }
    }
    if (hush_global_init() != 0) {
        fprintf(stderr, "hush-demo: libsodium failed to initialise\n");
        return 1;
    }

    /* The private truth: Zipf(1.1) favourites, held only by the "devices". */
    uint32_t *favourite = malloc(users * sizeof *favourite);
    uint64_t truth[D] = {0};
    double weights[D], total = 0.0;
    hush_rng *population = NULL;
    if (favourite == NULL || hush_rng_new_seeded_u64(2017, &population) != 0) {
        fprintf(stderr, "hush-demo: out of memory\n");
        return 1;
    }
    for (uint32_t i = 0; i < D; i++) {
        weights[i] = pow(i + 1.0, -1.1);
        total += weights[i];
    }
    for (uint64_t u = 0; u < users; u++) {
        double x = hush_rng_unit(population) * total;
        uint32_t v = 0;
        while (v + 1 < D && x >= weights[v]) {
            x -= weights[v++];
        }
        favourite[u] = v;
        truth[v]++;
    }
    hush_rng_free(population);
    uint32_t true_rank[D];
    for (uint32_t i = 0; i < D; i++) {
        true_rank[i] = 1;
        for (uint32_t j = 0; j < D; j++) {
            /* ties rank by index */
            true_rank[i] += j < i ? truth[j] >= truth[i] : truth[j] > truth[i];
        }
    }

    printf("hush demo: %llu users, %u emoji, epsilon = %g per report\n",
           (unsigned long long)users, D, epsilon);
    printf("Each device sends one randomized report; the collector never sees a "
           "favourite.\n");

    static const hush_ldp_mechanism mechs[] = {HUSH_LDP_GRR, HUSH_LDP_OUE, HUSH_LDP_OLH,
                                               HUSH_LDP_HR,  HUSH_LDP_CMS, HUSH_LDP_HCMS};
    int rc = 0;
    for (size_t k = 0; k < sizeof mechs / sizeof mechs[0] && rc == 0; k++) {
        hush_ldp_params params = {.mechanism = mechs[k],
                                  .domain = D,
                                  .epsilon = epsilon,
                                  .sketch_rows = 64,
                                  .sketch_cols = 256,
                                  .hash_seed = 42};
        hush_ldp *m = NULL;
        hush_ldp_agg *agg = NULL;
        hush_rng *device_rng = NULL;
        uint8_t *reports = NULL;
        hush_ldp_estimate est[D];
        struct ranked order[D];
        if (hush_ldp_new(&params, &m, &err) != 0 ||
            hush_ldp_agg_new(m, &agg, &err) != 0 ||
            hush_rng_new_seeded_u64(7 + k, &device_rng) != 0) {
            rc = fail("setup", &err);
            goto next;
        }
        size_t rs = hush_ldp_report_size(m);
        reports = malloc(rs * users);
        if (reports == NULL) {
            rc = 1;
            goto next;
        }
        for (uint64_t u = 0; u < users; u++) {
            if (hush_ldp_encode(m, favourite[u], device_rng, reports + u * rs, rs,
                                &err) != 0) {
                rc = fail("encode", &err);
                goto next;
            }
        }
        if (hush_ldp_agg_add(agg, reports, rs * users, NULL, &err) != 0 ||
            hush_ldp_agg_estimate(agg, 0.0, est, D, &err) != 0) {
            rc = fail("aggregate", &err);
            goto next;
        }
        for (uint32_t i = 0; i < D; i++) {
            order[i] = (struct ranked){.item = i, .estimate = est[i].count};
        }
        qsort(order, D, sizeof order[0], by_estimate);
        printf("\n%s - %u-bit reports, standard error about %.0f users\n",
               hush_ldp_mechanism_name(mechs[k]), hush_ldp_report_bits(m),
               hush_ldp_variance(m, (double)users, 0.0, 0.0) > 0
                   ? sqrt(hush_ldp_variance(m, (double)users, 0.0, 0.0))
                   : 0.0);
        printf("  %-4s %-32s %8s  %-22s %s\n", "rank", "emoji", "truth",
               "estimate (95% CI)", "true rank");
        for (int r = 0; r < 10; r++) {
            uint32_t i = order[r].item;
            char ci[64];
            snprintf(ci, sizeof ci, "%.0f (%.0f..%.0f)%s", est[i].count, est[i].ci_low,
                     est[i].ci_high, est[i].significant ? "" : "?");
            printf("  %-4d %-32s %8llu  %-22s %u\n", r + 1, emoji[i],
                   (unsigned long long)truth[i], ci, true_rank[i]);
        }
    next:
        free(reports);
        hush_rng_free(device_rng);
        hush_ldp_agg_free(agg);
        hush_ldp_free(m);
    }
    printf("\n(? marks an estimate not significantly above zero.  Try: "
           "build/bin/hush-privacy ldp --domain 64 --epsilon 4 --reports 100000)\n");
    free(favourite);
    return rc;
}
