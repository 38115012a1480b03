/*
 * models_secagg.c - the secure-aggregation part of a model task
 * (models_secagg.h): its spec, its plan, one attempt after the other.
 */
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "hush_json.h"
#include "models_secagg.h"
#include "secagg_round.h"

#define SESSION_MAX 32

struct hush__task_sa {
    hush__sa_spec spec;
    uint32_t dim;
    double clip;
    hush_ddg plan; /* the open round's (its seed is the round's) */
    uint32_t round;
    char session[SESSION_MAX];
    hush__sa_round *attempt;
    uint32_t attempts, failures; /* of the open round */
    bool seeded;                 /* rotation seeds from test_key (replays) */
    uint8_t test_key[32];
    char last_failure[HUSH_ERR_MSG_MAX + 1];
};

static double num(const json_t *o, const char *key, double dflt)
{
    const json_t *v = json_object_get(o, key);
    return v == NULL ? dflt : json_is_number(v) ? json_number_value(v) : NAN;
}

int hush__sa_spec_read(const json_t *req, uint32_t dim, double clip, uint32_t rounds,
                       double delta, double target, double z, hush__sa_spec *out,
                       hush__fail *f)
{
    const json_t *sa = json_object_get(req, "secure_aggregation");
    static const char *const known[] = {
        "min_devices", "max_devices", "max_participations", "bits",
        "dropout",     "dishonest",   "stage_seconds",      "max_attempts"};
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)sa, key, v)
    {
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
            ok = ok || strcmp(key, known[i]) == 0;
        }
        if (!ok) {
            return hush__fail_set(f, HUSH_EINVAL, "invalid_secagg",
                                  "unknown field \"%s\" in \"secure_aggregation\"", key);
        }
    }
    double mn = num(sa, "min_devices", NAN), mx = num(sa, "max_devices", NAN),
           mp = num(sa, "max_participations", rounds), bits = num(sa, "bits", 20);
    out->dropout = num(sa, "dropout", 0.1);
    out->dishonest = num(sa, "dishonest", 0.05);
    out->stage_seconds = num(sa, "stage_seconds", 30);
    double attempts = num(sa, "max_attempts", 3);
    if (!(attempts >= 1 && attempts <= 100 && attempts == floor(attempts))) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_secagg",
                              "\"secure_aggregation\".max_attempts must be 1 to 100");
    }
    out->max_attempts = (uint32_t)attempts;
    if (!json_is_object(sa) || !(mn >= 3 && mn == floor(mn)) ||
        !(mx >= mn && mx <= HUSH_SECAGG_MAX_DEVICES && mx == floor(mx)) ||
        !(mp >= 1 && mp <= rounds && mp == floor(mp)) ||
        !(bits >= 8 && bits <= 32 && bits == floor(bits)) ||
        !(out->dropout >= 0 && out->dropout <= 0.9) ||
        !(out->dishonest >= 0 && out->dishonest <= 0.5) ||
        !(out->stage_seconds >= 1 && out->stage_seconds <= 86400)) {
        return hush__fail_set(
            f, HUSH_EINVAL, "invalid_secagg",
            "\"secure_aggregation\" needs min_devices >= 3, max_devices in [min_devices, "
            "%d], and may give max_participations in [1, rounds], bits in [8, 32], "
            "dropout in [0, 0.9], dishonest in [0, 0.5], stage_seconds in [1, 86400]",
            HUSH_SECAGG_MAX_DEVICES);
    }
    out->min_devices = (uint32_t)mn;
    out->max_devices = (uint32_t)mx;
    out->max_participations = (uint32_t)mp;
    out->bits = (uint32_t)bits;
    static const uint8_t seed[32] = {0}; /* the lattice does not depend on it */
    hush_ddg g;
    hush_err err = {0};
    int rc = target > 0 ? hush_ddg_plan_for_epsilon(dim, clip, out->min_devices,
                                                    out->max_devices, out->bits,
                                                    out->max_participations, delta,
                                                    target, seed, &g, &out->z, &err)
                        : hush_ddg_plan(dim, clip, out->min_devices, out->max_devices,
                                        out->bits, out->z = z, seed, &g, &err);
    /* the devices' own check must accept what the collector publishes */
    hush_secagg_params p;
    for (int i = 0; i < 2 && rc == 0; i++) { /* as few devices as it takes, and all */
        rc =
            hush_secagg_choose(i == 0 ? out->min_devices : out->max_devices, out->dropout,
                               out->dishonest, 40, 20, out->bits, g.padded, &p, &err);
    }
    return rc == 0 ? 0 : hush__fail_set(f, HUSH_EINVAL, "invalid_privacy", "%s", err.msg);
}

int hush__task_sa_new(const hush__sa_spec *spec, uint32_t dim, double clip,
                      hush__task_sa **out, hush__fail *f)
{
    hush__task_sa *s = hush_calloc(1, sizeof *s);
    if (s == NULL) {
        return hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
    }
    s->spec = *spec;
    s->dim = dim;
    s->clip = clip;
    *out = s;
    return 0;
}

void hush__task_sa_seed(hush__task_sa *s, const uint8_t key[32])
{
    memcpy(s->test_key, key, sizeof s->test_key);
    s->seeded = true;
}

void hush__task_sa_free(hush__task_sa *s)
{
    if (s != NULL) {
        hush__sa_round_free(s->attempt);
        hush_free(s);
    }
}

int hush__task_sa_open(hush__task_sa *s, uint32_t round, bool new_round, double now,
                       hush_err *err)
{
    if (new_round || s->round != round) {
        uint8_t seed[32], r[4];
        hush_store_le32(r, round);
        if (s->seeded) {
            crypto_generichash(seed, sizeof seed, r, sizeof r, s->test_key,
                               sizeof s->test_key);
        } else {
            randombytes_buf(seed, sizeof seed);
        }
        int rc = hush_ddg_plan(s->dim, s->clip, s->spec.min_devices, s->spec.max_devices,
                               s->spec.bits, s->spec.z, seed, &s->plan, err);
        if (rc != 0) {
            return rc;
        }
        s->round = round;
        s->attempts = s->failures = 0;
    }
    hush__sa_config cfg = {.min_devices = s->spec.min_devices,
                           .max_devices = s->spec.max_devices,
                           .dropout = s->spec.dropout,
                           .dishonest = s->spec.dishonest,
                           .bits = s->plan.bits,
                           .length = s->plan.padded,
                           .round = round,
                           .stage_seconds = s->spec.stage_seconds,
                           /* a round's first attempt waits for devices; a
                            * retry nobody comes back to fails, so that a
                            * round too small to succeed is given up */
                           .wait_for_keys = s->failures == 0};
    hush__sa_round *r = NULL;
    hush__fail f = {0};
    if (hush__sa_round_new(&cfg, now, &r, &f) != 0) {
        return hush_err_set(err, f.err.code, "%s", f.err.msg);
    }
    hush__sa_round_free(s->attempt);
    s->attempt = r;
    s->attempts++;
    uint8_t nonce[8];
    randombytes_buf(nonce, sizeof nonce);
    char hex[2 * sizeof nonce + 1];
    sodium_bin2hex(hex, sizeof hex, nonce, sizeof nonce);
    snprintf(s->session, sizeof s->session, "%u.%s", round, hex);
    return 0;
}

json_t *hush__task_sa_publication(const hush__task_sa *s, double delta)
{
    char *seed = hush_b64_encode(s->plan.seed, sizeof s->plan.seed);
    json_t *o =
        seed == NULL
            ? NULL
            : json_pack("{s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:f, "
                        "s:{s:I, s:I, s:f, s:f, s:I, s:s}}",
                        "min_devices", (json_int_t)s->spec.min_devices, "max_devices",
                        (json_int_t)s->spec.max_devices, "max_participations",
                        (json_int_t)s->spec.max_participations, "bits",
                        (json_int_t)s->plan.bits, "noise_multiplier", s->spec.z, "delta",
                        delta, "dropout", s->spec.dropout, "dishonest", s->spec.dishonest,
                        "stage_seconds", s->spec.stage_seconds, "ddg", "dim",
                        (json_int_t)s->plan.dim, "padded", (json_int_t)s->plan.padded,
                        "gamma", s->plan.gamma, "delta2", s->plan.delta2, "sigma",
                        (json_int_t)s->plan.sigma, "seed", seed);
    hush_free(seed);
    return o;
}

double hush__task_sa_epsilon(const hush__task_sa *s, uint32_t participations,
                             double delta)
{
    double eps = INFINITY;
    uint32_t p = participations < s->spec.max_participations ? participations
                                                             : s->spec.max_participations;
    if (p == 0) {
        return 0;
    }
    return hush_ddg_epsilon(&s->plan, p, delta, &eps, NULL) == 0 ? eps : INFINITY;
}

void hush__task_sa_privacy(const hush__task_sa *s, json_t *doc)
{
    json_object_set_new(doc, "max_participations",
                        json_integer(s->spec.max_participations));
    json_object_set_new(
        doc, "distributed",
        json_pack("{s:I, s:I, s:I, s:f, s:f, s:I, s:f, s:f, s:f}", "min_devices",
                  (json_int_t)s->spec.min_devices, "max_devices",
                  (json_int_t)s->spec.max_devices, "bits", (json_int_t)s->plan.bits,
                  "gamma", s->plan.gamma, "delta2", s->plan.delta2, "sigma",
                  (json_int_t)s->plan.sigma, "sum_noise_sd_at_min_devices",
                  s->plan.sigma * s->plan.gamma * sqrt((double)s->spec.min_devices),
                  "dropout", s->spec.dropout, "dishonest", s->spec.dishonest));
}

/* Whether a request names the open attempt. */
static int session_ok(const hush__task_sa *s, const char *session, hush__fail *f)
{
    if (session == NULL || s->attempt == NULL || strcmp(session, s->session) != 0) {
        return hush__fail_set(f, HUSH_ESTALE, "secagg_session_over",
                              "secure-aggregation session %s is not the open one (%s): "
                              "start again with new keys",
                              session != NULL ? session : "(none)", s->session);
    }
    return 0;
}

int hush__task_sa_post(hush__task_sa *s, const char *session, const char *token,
                       const char *body, size_t len, double now, json_t **out,
                       hush__fail *f)
{
    *out = NULL;
    hush__sa_post io = {0};
    size_t got = 0;
    if (session != NULL && session_ok(s, session, f) != 0) {
        return f->err.code;
    }
    if (s->attempt == NULL) {
        return hush__fail_set(f, HUSH_ESTATE, "secagg_stage", "no attempt is open");
    }
    if (token != NULL &&
        (sodium_base642bin(io.token, sizeof io.token, token, strlen(token), NULL, &got,
                           NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
         got != sizeof io.token)) {
        return hush__fail_set(f, HUSH_EINVAL, "secagg_refused",
                              "Hush-Secagg-Token must be %d bytes in base64",
                              HUSH__SA_TOKEN_BYTES);
    }
    bool keys = session == NULL;
    if (!keys && token == NULL) {
        return hush__fail_set(
            f, HUSH_EINVAL, "secagg_refused",
            "a stage document needs the Hush-Secagg-Token its keys got");
    }
    int rc = hush__sa_round_post(s->attempt, body, len, &io, now, f);
    if (rc == 0 && keys) {
        char *tok = hush_b64_encode(io.token, sizeof io.token);
        *out = tok == NULL ? NULL
                           : json_pack("{s:s, s:I, s:s, s:b}", "session", s->session,
                                       "index", (json_int_t)io.index, "token", tok,
                                       "duplicate", io.duplicate);
        hush_free(tok);
    } else if (rc == 0) {
        *out =
            json_pack("{s:b, s:b}", "accepted", !io.duplicate, "duplicate", io.duplicate);
    }
    sodium_memzero(&io, sizeof io);
    return rc != 0 || *out != NULL
               ? rc
               : hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
}

int hush__task_sa_get(hush__task_sa *s, const char *session, uint32_t index, double now,
                      char **body, hush__fail *f)
{
    *body = NULL;
    if (session_ok(s, session, f) != 0) {
        return f->err.code;
    }
    return hush__sa_round_get(s->attempt, index, now, body, f);
}

static const char *stage_name(hush__sa_stage st)
{
    static const char *const names[] = {"keys",   "shares", "masked", "sign",
                                        "unmask", "done",   "failed"};
    return names[st];
}

json_t *hush__task_sa_status(hush__task_sa *s, double now)
{
    hush__sa_stage st =
        s->attempt != NULL ? hush__sa_round_stage(s->attempt, now) : HUSH__SA_FAILED;
    json_t *o =
        json_pack("{s:I, s:s, s:s, s:I, s:I, s:f}", "round", (json_int_t)s->round,
                  "session", s->session, "stage", stage_name(st), "attempt",
                  (json_int_t)s->attempts, "failed_attempts", (json_int_t)s->failures,
                  "stage_seconds", s->spec.stage_seconds);
    if (o != NULL && s->last_failure[0] != '\0') {
        json_object_set_new(o, "last_failure", json_string(s->last_failure));
    }
    return o;
}

int hush__task_sa_settle(hush__task_sa *s, double now, float **mean, uint32_t *survivors,
                         const char **failed, hush_err *err)
{
    *failed = NULL;
    *mean = NULL;
    if (s->attempt == NULL) {
        return hush__task_sa_open(s, s->round, false, now, err);
    }
    hush__sa_stage st = hush__sa_round_stage(s->attempt, now);
    if (st == HUSH__SA_FAILED) {
        snprintf(s->last_failure, sizeof s->last_failure, "attempt %u of round %u: %s",
                 s->attempts, s->round, hush__sa_round_reason(s->attempt));
        s->failures++;
        *failed = s->last_failure;
        if (s->failures >= s->spec.max_attempts) {
            hush__sa_round_free(s->attempt);
            s->attempt = NULL;
            return 2; /* the caller gives the round up */
        }
        int rc = hush__task_sa_open(s, s->round, false, now, err);
        return rc != 0 ? rc : 0;
    }
    if (st != HUSH__SA_DONE) {
        return 0;
    }
    uint32_t length = 0;
    const uint32_t *sum = hush__sa_round_sum(s->attempt, &length, survivors);
    double *dec = hush_malloc((size_t)s->dim * sizeof *dec);
    float *m = hush_malloc((size_t)s->dim * sizeof *m);
    int rc = dec == NULL || m == NULL
                 ? hush_err_set(err, HUSH_ENOMEM, "out of memory decoding a sum")
                 : hush_ddg_decode(&s->plan, sum, dec, err);
    for (uint32_t i = 0; rc == 0 && i < s->dim; i++) {
        m[i] = (float)(dec[i] / *survivors);
    }
    hush_free(dec);
    if (rc != 0) {
        hush_free(m);
        return rc;
    }
    *mean = m;
    return 1;
}
