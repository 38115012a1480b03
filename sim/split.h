/*
 * split.h - how hush-sim fl deals a corpus's emails to simulated devices,
 * and how it compares per-device accuracies, as pure functions
 * (sim/split.c, tested in tests/sim/).
 *
 * Splits (sim_split_parse):
 *   deal              every email to one device at random, a fifth of each
 *                     device's as its test emails (about one each at 1,000
 *                     devices: the benchmark before issue 16);
 *   iid               each device draws its training and test emails
 *                     uniformly from the training and test pools;
 *   label-skew:ALPHA  each device's spam share p ~ Beta(ALPHA, ALPHA) (a
 *                     Dirichlet over the two labels); each of its emails is
 *                     spam with probability p, drawn uniformly from the
 *                     pool's emails of that label;
 *   preference:SHARE  iid draws, but a device belongs with probability
 *                     SHARE to the users who treat newsletters and mailing-
 *                     list mail as unwanted: their copies of such ham are
 *                     labelled spam, in training and test alike.
 * For the three drawn splits a fifth of the corpus (a uniform subset) is
 * the test pool and the rest the training pool: a test email is never
 * anyone's training email, so no model has seen what it is tested on.
 * Draws are with replacement across devices (the same email can be held
 * by several devices, as the same newsletter reaches many inboxes).
 */
#ifndef HUSH_SIM_SPLIT_H
#define HUSH_SIM_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hush_privacy.h"

typedef enum sim_split_kind {
    SIM_SPLIT_DEAL = 0,
    SIM_SPLIT_IID,
    SIM_SPLIT_LABEL_SKEW,
    SIM_SPLIT_PREFERENCE
} sim_split_kind;

typedef struct sim_split {
    sim_split_kind kind;
    double param;            /* ALPHA or SHARE */
    size_t train_per_device; /* drawn splits: training emails a device holds */
    size_t test_per_device;  /* drawn splits: test emails a device holds */
} sim_split;

/* "iid", "label-skew:ALPHA" (ALPHA > 0), "preference:SHARE" (SHARE in
 * [0, 1]), or "deal"; the counts are left as they are.  0 or HUSH_EINVAL. */
int sim_split_parse(const char *s, sim_split *out, hush_err *err);
/* The split's name as the benchmark's rows spell it ("label-skew:0.1"). */
void sim_split_name(const sim_split *s, char *out, size_t cap);

/* An email a device holds, and the label its user gives it. */
typedef struct sim_held {
    uint32_t mail; /* index into the corpus */
    uint32_t device;
    uint32_t label; /* 0 ham, 1 spam, as this device's user sees it */
    bool test;
} sim_held;

/* The corpus as the split needs it: per email its label (0 ham, 1 spam),
 * whether it is newsletter or mailing-list ham, and whether it can be used
 * at all (it has text to embed). */
typedef struct sim_corpus {
    const uint32_t *label;
    const bool *newsletter;
    const bool *usable;
    size_t n;
} sim_corpus;

/* Deals the corpus to `devices` devices; *out is a new array (free) of
 * *n_out held emails, device by device.  `strict` (may be NULL) gets, per
 * device, whether it treats newsletters as spam (preference split).
 * Returns 0, HUSH_EINVAL (a pool without an email the split needs),
 * HUSH_ENOMEM. */
int sim_split_deal(const sim_split *s, const sim_corpus *c, size_t devices, hush_rng *rng,
                   sim_held **out, size_t *n_out, bool *strict, hush_err *err);

/* A Beta(a, b) variate (a, b > 0): X / (X + Y) for gamma variates (Marsaglia
 * and Tsang 2000, with U^(1/a) for shapes below one). */
double sim_beta(hush_rng *rng, double a, double b);

/* Per-device accuracies of a model against a baseline on the same devices
 * (paired): the mean accuracy, the mean gain (acc - base) with the 95%
 * confidence interval mean +- t(0.975, n - 1) sd / sqrt(n) of the paired
 * differences, and the share of devices whose accuracy is below the
 * baseline's. */
typedef struct sim_paired {
    double accuracy, gain, ci_low, ci_high, worse_share;
} sim_paired;
void sim_paired_gain(const double *acc, const double *base, size_t n, sim_paired *out);
/* The 0.975 quantile of Student's t with `df` degrees of freedom. */
double sim_t975(size_t df);

#endif
