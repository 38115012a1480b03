/*
 * models_secagg.h - the secure-aggregation part of a model task
 * ("aggregation": "secagg"): the collector never sees one device's update,
 * only the sum of at least min_devices noised ones (distributed DP).
 *
 * Each round runs attempts: an attempt is one secagg_round (its session
 * "<round>.<16 hex>" names it in every request).  An attempt that fails
 * (too few devices at some stage, bad shares) releases nothing and the
 * next attempt of the same round opens at once; one that completes is
 * decoded (hush_ddg_decode) into the round's mean.  Nothing of an attempt
 * is stored: a restart fails the attempt in flight (its devices get 410
 * and abort) and opens a fresh one.
 */
#ifndef HUSH_COLLECTOR_MODELS_SECAGG_H
#define HUSH_COLLECTOR_MODELS_SECAGG_H

#include <jansson.h>
#include <stdint.h>

#include "fail.h"
#include "hush_secagg.h"

typedef struct hush__task_sa hush__task_sa;

/* What a task's spec says about secure aggregation and its privacy. */
typedef struct hush__sa_spec {
    uint32_t min_devices, max_devices, max_participations, bits;
    uint32_t max_attempts; /* failed attempts before a round is given up */
    double dropout, dishonest, stage_seconds;
    double z; /* the noise multiplier (given, or from target_epsilon) */
} hush__sa_spec;

/* The spec's "secure_aggregation" object for updates of `dim` values
 * clipped to `clip`; with a target epsilon (> 0, over max_participations
 * at `delta`) z is solved for, else `z` (> 0) is taken as given. */
int hush__sa_spec_read(const json_t *req, uint32_t dim, double clip, uint32_t rounds,
                       double delta, double target, double z, hush__sa_spec *out,
                       hush__fail *f);

int hush__task_sa_new(const hush__sa_spec *spec, uint32_t dim, double clip,
                      hush__task_sa **out, hush__fail *f);
void hush__task_sa_free(hush__task_sa *s);
/* For tests and benchmarks (--test-noise-seed): each round's rotation seed
 * from `key` and the round, not the system's randomness, so that a run
 * replays.  The rotation is public either way. */
void hush__task_sa_seed(hush__task_sa *s, const uint8_t key[32]);

/* A new attempt at `round` (the plan's rotation seed is the round's,
 * drawn when the round first opens). */
int hush__task_sa_open(hush__task_sa *s, uint32_t round, bool new_round, double now,
                       hush_err *err);

/* The publication's "secagg" object (new). */
json_t *hush__task_sa_publication(const hush__task_sa *s, double delta);

/* Epsilon of a device over `participations` (capped at the spec's). */
double hush__task_sa_epsilon(const hush__task_sa *s, uint32_t participations,
                             double delta);
/* The privacy document's distributed-DP fields, added to doc. */
void hush__task_sa_privacy(const hush__task_sa *s, json_t *doc);

/* A device's document.  session: the request's (NULL for keys);
 * token: its Hush-Secagg-Token header (NULL: none).  *out: the answer. */
int hush__task_sa_post(hush__task_sa *s, const char *session, const char *token,
                       const char *body, size_t len, double now, json_t **out,
                       hush__fail *f);
/* What device `index` of `session` fetches now (*body new). */
int hush__task_sa_get(hush__task_sa *s, const char *session, uint32_t index, double now,
                      char **body, hush__fail *f);
/* The attempt's state: round, session, stage, devices, deadline. */
json_t *hush__task_sa_status(hush__task_sa *s, double now);

/* Moves the attempt on (cheap while nothing ends: every request calls it):
 * 1 if a sum was released (*mean new, dim values: the decoded sum over
 * *survivors devices), 0 if not (yet); a failed attempt
 * is recorded (*failed set to its reason, static until the next call) and
 * the next one opened, or after max_attempts failures 2: the round is
 * given up (its sampled devices are the same in every attempt, and those
 * that sent a masked update were charged and take no further part, so
 * more attempts would fail alike) and the caller opens the next one. */
int hush__task_sa_settle(hush__task_sa *s, double now, float **mean, uint32_t *survivors,
                         const char **failed, hush_err *err);

#endif
