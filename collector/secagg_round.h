/*
 * secagg_round.h - one secure-aggregation round on the collector: the
 * stages of hush_secagg.h with their deadlines, driven by the stage
 * documents devices post and fetch (hush_secagg_msg).  Model tasks with
 * "aggregation": "secagg" run one per attempt at a round (models_secagg.c).
 *
 *   keys      devices post their keys until max_devices or the deadline
 *             (with wait_for_keys, a deadline that passes with no keys at
 *             all starts again: nobody is waiting); fewer than
 *             max(min_devices, 3): the round fails;
 *   shares    the key list and parameters (hush_secagg_choose for the
 *             count that came) are served; devices post their boxes;
 *   masked    each device fetches its inbox and posts its masked vector;
 *   sign      the survivors are fixed and served; survivors post signatures;
 *   unmask    at least q signatures: the unmask request is served and
 *             devices post their reveals; then the sum, or a failed round
 *             that releases nothing.
 * A stage ends when every device expected in it has posted, or at its
 * deadline (`stage_seconds` after it began).  A stage that ends with fewer
 * devices than the protocol needs fails the round; so does one that ends
 * with fewer than min_devices survivors (the fewest whose noise a released
 * sum may hold, under distributed DP).
 */
#ifndef HUSH_COLLECTOR_SECAGG_ROUND_H
#define HUSH_COLLECTOR_SECAGG_ROUND_H

#include <stdbool.h>
#include <stdint.h>

#include "fail.h"
#include "hush_protocol.h"
#include "hush_secagg.h"

typedef struct hush__sa_config {
    uint32_t min_devices, max_devices;
    double dropout, dishonest; /* for the parameters (hush_secagg_choose) */
    uint32_t bits, length, round;
    double stage_seconds;
    /* a keys stage that ends with no keys at all starts again (the first
     * attempt of a round: nobody is waiting); false: it fails */
    bool wait_for_keys;
} hush__sa_config;

typedef enum hush__sa_stage {
    HUSH__SA_KEYS,
    HUSH__SA_SHARES,
    HUSH__SA_MASKED,
    HUSH__SA_SIGN,
    HUSH__SA_UNMASK,
    HUSH__SA_DONE,
    HUSH__SA_FAILED,
} hush__sa_stage;

typedef struct hush__sa_round hush__sa_round;

int hush__sa_round_new(const hush__sa_config *cfg, double now, hush__sa_round **out,
                       hush__fail *f);
void hush__sa_round_free(hush__sa_round *r);

/* The stage now (after ending the current one if its deadline passed). */
hush__sa_stage hush__sa_round_stage(hush__sa_round *r, double now);
/* Why the round failed (HUSH__SA_FAILED), "" otherwise. */
const char *hush__sa_round_reason(const hush__sa_round *r);

/* A device's token: its keys document gets one, and every later document
 * must carry it, so that nobody posts in another device's name (a forged
 * masked vector or reveal would fail the round for everyone). */
#define HUSH__SA_TOKEN_BYTES 16

/* A post's token (in: the device's; out, for keys: a new one), the
 * device's index in the key list (out), and whether it repeated a post the
 * round already has (out; the first one counts: a retry is answered the
 * same way, and for keys with a new token). */
typedef struct hush__sa_post {
    uint8_t token[HUSH__SA_TOKEN_BYTES];
    uint32_t index;
    bool duplicate;
} hush__sa_post;

/* A device's document for the current stage (keys, boxes, masked,
 * signature, reveals).  HUSH_ESTATE "secagg_stage" if it is not this
 * stage's; HUSH_EINVAL for a document the protocol refuses or a wrong
 * token. */
int hush__sa_round_post(hush__sa_round *r, const char *body, size_t len,
                        hush__sa_post *io, double now, hush__fail *f);

/* What device `index` fetches now: the key list (shares), its inbox
 * (masked), the survivors (sign), the unmask request (unmask).  *body new.
 * HUSH_ESTATE "secagg_stage" when there is nothing to fetch. */
int hush__sa_round_get(hush__sa_round *r, uint32_t index, double now, char **body,
                       hush__fail *f);

/* The sum (params.length values) once HUSH__SA_DONE; NULL before. */
const uint32_t *hush__sa_round_sum(const hush__sa_round *r, uint32_t *length,
                                   uint32_t *survivors);

#endif
