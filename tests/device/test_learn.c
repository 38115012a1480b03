/*
 * test_learn.c - federated learning on the device: signed models, the
 * sampling coin, the ledger, personal models that stay on the device,
 * local DP, prediction, and no local text in anything that leaves.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device_fixture.h"
#include "hush_learning.h"
#include "hush_protocol.h"

#define DAY 86400
#define T0 (20000 * (int64_t)DAY)

/* The "state" the next publication says (NULL: none, as before tasks said
 * it). */
static const char *pub_state;
/* Fields the next publication has besides (NULL: none). */
static const char *pub_extra;

/* A signed model publication (what hushd serves): logistic or MLP over a
 * dim-32 embedder, labels ham/spam. */
static void model_pub_full(fx_pub *p, const fx_keys *k, const char *id, int round,
                           const char *personalization, double q, double local_noise,
                           hush_model_kind kind, double lambda, double lr)
{
    static const char desc[] =
        "{\"kind\":\"hashed-ngram\",\"version\":1,\"dim\":32,\"seed\":4}";
    hush_embedder *e = NULL;
    char *canon = NULL, *w = NULL;
    cr_assert_eq(hush_embedder_new(desc, sizeof desc - 1, NULL, 0, NULL, &e, NULL), 0);
    cr_assert_eq(hush_embedder_describe(e, &canon, NULL), 0);
    hush_model_spec spec = {.kind = kind,
                            .inputs = 32,
                            .classes = 2,
                            .hidden = kind == HUSH_MODEL_MLP ? 8 : 0};
    hush_model *m = NULL;
    cr_assert_eq(hush_model_new(&spec, 1, &m, NULL), 0);
    cr_assert_eq(hush_model_to_base64(m, &w, NULL), 0);
    json_t *doc = json_pack(
        "{s:s, s:i, s:s, s:{s:s, s:i, s:i, s:i}, s:[s, s], s:o, s:f, s:b, s:f, "
        "s:{s:i, s:i, s:f}, s:s, s:f, s:f, s:{s:i}, s:s}",
        "model", id, "round", round, "name", "Spam", "architecture", "kind",
        hush_model_kind_name(kind), "inputs", 32, "classes", 2, "hidden",
        (int)spec.hidden, "labels", "ham", "spam", "embedder", json_loads(canon, 0, NULL),
        "clip_norm", 0.5, "adaptive_clipping", true, "sampling_rate", q, "local",
        "epochs", 5, "batch", 4, "lr", lr, "personalization", personalization,
        "ditto_lambda", lambda, "local_noise_multiplier", local_noise, "budget",
        "updates_per_device_per_day", 1, "weights", w);
    if (pub_state != NULL) {
        json_object_set_new(doc, "state", json_string(pub_state));
    }
    if (pub_extra != NULL) {
        json_t *extra = json_loads(pub_extra, 0, NULL);
        cr_assert_not_null(extra);
        json_object_update(doc, extra);
        json_decref(extra);
    }
    char *body = json_dumps(doc, JSON_COMPACT);
    fx_pub_sign(p, k, body, strlen(body));
    free(body);
    json_decref(doc);
    hush_free(w);
    hush_free(canon);
    hush_model_free(m);
    hush_embedder_free(e);
}

static void model_pub(fx_pub *p, const fx_keys *k, const char *personalization, double q,
                      double local_noise, hush_model_kind kind)
{
    model_pub_full(p, k, "spam", 3, personalization, q, local_noise, kind, 0.1, 1.0);
}

static const char *const spam[] = {"cheap meds online buy now limited offer",
                                   "you won a prize claim your money today",
                                   "click here for free casino bonus cash"};
static const char *const ham[] = {"the build is green after the compiler patch",
                                  "lunch on friday with the team at noon",
                                  "please review my notes before the meeting"};

static hush_agent *agent_with_examples(const char *dir, const fx_keys *k, int64_t *now,
                                       uint8_t seed_byte)
{
    uint8_t seed[32];
    memset(seed, seed_byte, sizeof seed);
    hush_agent_config cfg = fx_config(dir, k, now, seed);
    hush_agent *a = NULL;
    hush_err err = {0};
    cr_assert_eq(hush_agent_open(&cfg, &a, &err), 0, "%s", err.msg);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(hush_agent_add_example(a, spam[i], strlen(spam[i]), 1, &err), 0);
        cr_assert_eq(hush_agent_add_example(a, ham[i], strlen(ham[i]), 0, &err), 0);
    }
    cr_assert_eq(hush_agent_example_count(a), 6);
    return a;
}

static hush_fl_model *accept(hush_agent *a, const fx_pub *p)
{
    hush_fl_model *m = NULL;
    hush_err err = {0};
    cr_assert_eq(
        hush_agent_accept_model(a, p->id, p->body, p->len, p->signature, &m, &err), 0,
        "%s", err.msg);
    return m;
}

static bool contains(const char *hay, const char *needle)
{
    return strstr(hay, needle) != NULL;
}

Test(learn, a_round_makes_a_clipped_charged_update_and_nothing_else_leaves)
{
    fx_keys k;
    fx_keys_make(&k, 1);
    char *dir = fx_tmpdir();
    int64_t now = T0;
    hush_agent *a = agent_with_examples(dir, &k, &now, 3);
    fx_pub p;
    model_pub(&p, &k, "none", 1.0, 0, HUSH_MODEL_LOGISTIC);
    hush_fl_model *m = accept(a, &p);
    cr_assert_str_eq(hush_fl_model_id(m), "spam");
    cr_assert_eq(hush_fl_model_round(m), 3);
    size_t nl = 0;
    const char *const *labels = hush_fl_model_labels(m, &nl);
    cr_assert(nl == 2 && strcmp(labels[1], "spam") == 0);
    char *out = NULL;
    size_t len = 0;
    hush_err err = {0};
    cr_assert_eq(hush_agent_train_round(a, m, NULL, &out, &len, &err), 0, "%s", err.msg);
    hush_model_update u;
    cr_assert_eq(hush_model_update_parse(out, len, 33, &u, &err), 0, "%s: %s", err.msg,
                 out);
    cr_assert_str_eq(u.model, "spam");
    cr_assert_eq(u.round, 3);
    cr_assert_leq(hush_l2_norm(u.update, u.n), 0.5 * (1 + 1e-6),
                  "clipped to the round's norm");
    cr_assert(!u.unclipped, "five epochs at lr 1 move further than 0.5: clipped");
    for (int i = 0; i < 3; i++) {
        cr_assert(!contains(out, "meds") && !contains(out, "lunch") &&
                      !contains(out, "casino"),
                  "no local text in the update");
    }
    hush_free(u.update);
    hush_free(out);
    /* one update a day: charged, then refused until tomorrow */
    double eps = 0;
    uint32_t reports = 0;
    cr_assert_eq(hush_agent_spent_today(a, "model/spam", &eps, &reports), 0);
    cr_assert_eq(reports, 1);
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_train_round(a, m, NULL, &out, &len, &err), HUSH_EBUDGET);
    /* a new day, the same round: still one update for the round */
    now += DAY;
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_train_round(a, m, NULL, &out, &len, &err), HUSH_EBUDGET);
    cr_assert(contains(err.msg, "round 3"), "%s", err.msg);
    fx_pub next;
    model_pub_full(&next, &k, "spam", 4, "none", 1.0, 0, HUSH_MODEL_LOGISTIC, 0.1, 1.0);
    hush_fl_model *m4 = accept(a, &next);
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_train_round(a, m4, NULL, &out, &len, &err), 0, "%s", err.msg);
    hush_free(out);
    hush_fl_model_free(m4);
    fx_pub_free(&next);
    /* no personalization: nothing but the ledger, its marker, the lock and
     * the device secret on disk */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 4", dir);
    cr_assert_eq(system(cmd), 0);
    hush_fl_model_free(m);
    hush_agent_close(a);
    fx_pub_free(&p);
    fx_rmdir(dir);
}

Test(learn, the_sampling_coin_and_refused_models)
{
    fx_keys k, other;
    fx_keys_make(&k, 1);
    fx_keys_make(&other, 2);
    char *dir = fx_tmpdir();
    int64_t now = T0;
    hush_agent *a = agent_with_examples(dir, &k, &now, 4);
    fx_pub rare, forged;
    model_pub(&rare, &k, "none", 1e-6, 0, HUSH_MODEL_LOGISTIC);
    model_pub(&forged, &other, "none", 1.0, 0, HUSH_MODEL_LOGISTIC);
    hush_fl_model *m = NULL;
    hush_err err = {0};
    cr_assert_eq(hush_agent_accept_model(a, forged.id, forged.body, forged.len,
                                         forged.signature, &m, &err),
                 HUSH_ESIGNATURE);
    cr_assert_eq(hush_agent_accept_model(a, rare.id, rare.body, rare.len, NULL, &m, NULL),
                 HUSH_ESIGNATURE);
    m = accept(a, &rare);
    char *out = NULL;
    size_t len = 0;
    /* q = 1e-6: not sampled, nothing done, nothing charged */
    for (int i = 0; i < 20; i++) {
        hush_err_clear(&err);
        cr_assert_eq(hush_agent_train_round(a, m, NULL, &out, &len, &err),
                     HUSH_ENOTFOUND);
    }
    double eps = 0;
    uint32_t reports = 9;
    cr_assert_eq(hush_agent_spent_today(a, NULL, &eps, &reports), 0);
    cr_assert_eq(reports, 0);
    /* q = 1 (a later round): always in */
    fx_pub sure;
    model_pub_full(&sure, &k, "spam", 4, "none", 1.0, 0, HUSH_MODEL_LOGISTIC, 0.1, 1.0);
    hush_fl_model_free(m);
    m = accept(a, &sure);
    fx_pub_free(&sure);
    hush_train_budget b = {.max_steps = 2};
    cr_assert_eq(hush_agent_train_round(a, m, &b, &out, &len, &err), 0);
    hush_free(out);
    /* no examples: nothing to train on */
    hush_agent_clear_examples(a);
    now += DAY;
    fx_pub five;
    model_pub_full(&five, &k, "spam", 5, "none", 1.0, 0, HUSH_MODEL_LOGISTIC, 0.1, 1.0);
    hush_fl_model_free(m);
    m = accept(a, &five);
    fx_pub_free(&five);
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_train_round(a, m, &b, &out, &len, &err), HUSH_ESTATE);
    hush_fl_model_free(m);
    hush_agent_close(a);
    fx_pub_free(&rare);
    fx_pub_free(&forged);
    fx_rmdir(dir);
}

static double spam_probability(hush_agent *a, const hush_fl_model *m, const char *text)
{
    float probs[2];
    hush_err err = {0};
    cr_assert_eq(hush_agent_predict(a, m, text, strlen(text), probs, 2, &err), 0, "%s",
                 err.msg);
    cr_assert_float_eq(probs[0] + probs[1], 1.0, 1e-5);
    return probs[1];
}

Test(learn, personal_models_stay_on_the_device_and_predict)
{
    const char *kinds[] = {"ditto", "fedper"};
    for (int i = 0; i < 2; i++) {
        fx_keys k;
        fx_keys_make(&k, 1);
        char *dir = fx_tmpdir();
        int64_t now = T0;
        hush_agent *a = agent_with_examples(dir, &k, &now, 5);
        fx_pub p;
        model_pub(&p, &k, kinds[i], 1.0, 0,
                  i == 0 ? HUSH_MODEL_LOGISTIC : HUSH_MODEL_MLP);
        hush_fl_model *m = accept(a, &p);
        double before = spam_probability(a, m, "free casino money bonus");
        char *out = NULL;
        size_t len = 0;
        hush_err err = {0};
        cr_assert_eq(hush_agent_train_round(a, m, NULL, &out, &len, &err), 0, "%s",
                     err.msg);
        /* the personal model learned the device's spam; the global did not
         * change (the server has not averaged anything) */
        double after = spam_probability(a, m, "free casino money bonus");
        cr_assert_gt(after, before + 0.05, "%s: %g -> %g", kinds[i], before, after);
        /* FedPer sends the body only */
        hush_model_update u;
        size_t expect_n = i == 0 ? 33 : 32 * 8 + 8;
        cr_assert_eq(hush_model_update_parse(out, len, expect_n, &u, &err), 0, "%s",
                     err.msg);
        hush_free(u.update);
        hush_free(out);
        char path[1200];
        snprintf(path, sizeof path, "%s/personal-spam.mdl", dir);
        FILE *f = fopen(path, "rb");
        cr_assert_not_null(f, "the personal model is saved on the device");
        fclose(f);
        /* and survives a restart */
        hush_agent_close(a);
        a = agent_with_examples(dir, &k, &now, 6);
        cr_assert_float_eq(spam_probability(a, m, "free casino money bonus"), after,
                           1e-6);
        hush_fl_model_free(m);
        hush_agent_close(a);
        fx_pub_free(&p);
        fx_rmdir(dir);
    }
}

Test(learn, local_dp_noises_the_update_and_charges_its_epsilon)
{
    fx_keys k;
    fx_keys_make(&k, 1);
    char *dir = fx_tmpdir();
    int64_t now = T0;
    hush_agent *a = agent_with_examples(dir, &k, &now, 7);
    fx_pub p;
    model_pub(&p, &k, "none", 1.0, 2.0, HUSH_MODEL_LOGISTIC);
    hush_fl_model *m = accept(a, &p);
    char *out = NULL;
    size_t len = 0;
    hush_err err = {0};
    cr_assert_eq(hush_agent_train_round(a, m, NULL, &out, &len, &err), 0, "%s", err.msg);
    hush_model_update u;
    cr_assert_eq(hush_model_update_parse(out, len, 33, &u, &err), 0);
    /* noise of std z S = 1 per coordinate: the norm is about sqrt(33) */
    double norm = hush_l2_norm(u.update, u.n);
    cr_assert(norm > 3 && norm < 9, "noised norm %g", norm);
    double eps = 0;
    uint32_t reports = 0;
    cr_assert_eq(hush_agent_spent_today(a, "model/spam", &eps, &reports), 0);
    cr_assert_float_eq(eps, hush_local_dp_epsilon(2.0, 1e-5), 1e-9);
    hush_free(u.update);
    hush_free(out);
    hush_fl_model_free(m);
    hush_agent_close(a);
    fx_pub_free(&p);
    fx_rmdir(dir);
}

/*
 * The participation coin as apps really call: 1,000 devices, four tasks at
 * q = 0.1, each called k = 1, 2, 5 or 24 times in its round (with a
 * restart of every agent half-way).  For every k the share of devices whose
 * update was made is within 4 sigma of q (Binomial(1000, q)); a device
 * sends at most one update per round; and the coins of two tasks are
 * independent (both-sampled share within 4 sigma of q^2).  (Before the fix
 * the coin was drawn on each call: 0.1 / 0.19 / 0.41 / 0.92.)
 */
Test(learn, participation_is_decided_once_per_round_whatever_the_app_calls)
{
    enum { DEVICES = 1000, TASKS = 4 };
    static const int calls[TASKS] = {1, 2, 5, 24};
    static const char *const ids[TASKS] = {"k1", "k2", "k5", "k24"};
    const double q = 0.1;
    fx_keys k;
    fx_keys_make(&k, 1);
    char *root = fx_tmpdir();
    fx_pub pubs[TASKS];
    for (int t = 0; t < TASKS; t++) {
        model_pub_full(&pubs[t], &k, ids[t], 7, "none", q, 0, HUSH_MODEL_LOGISTIC, 0.1,
                       1.0);
    }
    int64_t now = T0;
    size_t sent[TASKS] = {0}, both01 = 0;
    hush_train_budget b = {.max_steps = 1};
    for (int d = 0; d < DEVICES; d++) {
        char dir[1200];
        snprintf(dir, sizeof dir, "%s/%d", root, d);
        uint8_t seed[32] = {0};
        memcpy(seed, &d, sizeof d);
        seed[31] = 0x77;
        hush_agent_config cfg = fx_config(dir, &k, &now, seed);
        hush_agent *a = NULL;
        hush_err err = {0};
        cr_assert_eq(hush_agent_open(&cfg, &a, &err), 0, "%s", err.msg);
        cr_assert_eq(hush_agent_add_example(a, spam[0], strlen(spam[0]), 1, &err), 0);
        bool in[TASKS] = {false};
        for (int t = 0; t < TASKS; t++) {
            hush_fl_model *m = accept(a, &pubs[t]);
            for (int c = 0; c < calls[t]; c++) {
                if (c == calls[t] / 2 && c > 0) { /* the app restarts */
                    hush_agent_close(a);
                    a = NULL;
                    cr_assert_eq(hush_agent_open(&cfg, &a, &err), 0, "%s", err.msg);
                    cr_assert_eq(
                        hush_agent_add_example(a, spam[0], strlen(spam[0]), 1, &err), 0);
                }
                char *out = NULL;
                size_t len = 0;
                hush_err_clear(&err);
                int rc = hush_agent_train_round(a, m, &b, &out, &len, &err);
                /* plain checks in the hot loop: Criterion reports every
                 * passing cr_assert to its runner */
                if (rc == 0) {
                    if (in[t]) {
                        cr_assert_fail("device %d sent twice in round 7 of %s", d,
                                       ids[t]);
                    }
                    in[t] = true;
                    hush_free(out);
                } else if (!(rc == HUSH_ENOTFOUND || (rc == HUSH_EBUDGET && in[t]))) {
                    cr_assert_fail("device %d, %s, call %d: %d %s", d, ids[t], c, rc,
                                   err.msg);
                }
            }
            sent[t] += in[t];
            hush_fl_model_free(m);
        }
        both01 += in[0] && in[1];
        hush_agent_close(a);
    }
    double sd = sqrt(DEVICES * q * (1 - q));
    for (int t = 0; t < TASKS; t++) {
        cr_assert(fabs((double)sent[t] - DEVICES * q) <= 4 * sd,
                  "k = %d calls: %zu of %d devices took part (expected %g +- %g)",
                  calls[t], sent[t], DEVICES, DEVICES * q, 4 * sd);
    }
    double sd2 = sqrt(DEVICES * q * q * (1 - q * q));
    cr_assert(fabs((double)both01 - DEVICES * q * q) <= 4 * sd2,
              "%zu devices in both tasks' samples (expected %g)", both01,
              DEVICES * q * q);
    for (int t = 0; t < TASKS; t++) {
        fx_pub_free(&pubs[t]);
    }
    fx_rmdir(root);
}

/* Model publications: another task's, a campaign in place of a model, and
 * an older round are refused, across restarts; nothing is charged. */
Test(learn, swapped_and_replayed_models_are_refused)
{
    fx_keys k;
    fx_keys_make(&k, 1);
    char *dir = fx_tmpdir();
    int64_t now = T0;
    hush_agent *a = agent_with_examples(dir, &k, &now, 4);
    fx_pub r3, r4, other, camp;
    model_pub_full(&r3, &k, "spam", 3, "none", 1.0, 0, HUSH_MODEL_LOGISTIC, 0.1, 1.0);
    model_pub_full(&r4, &k, "spam", 4, "none", 1.0, 0, HUSH_MODEL_LOGISTIC, 0.1, 1.0);
    model_pub_full(&other, &k, "ads", 9, "none", 1.0, 0, HUSH_MODEL_LOGISTIC, 0.1, 1.0);
    fx_poll(&camp, &k, "{\"name\":\"grr\",\"domain\":3,\"epsilon\":1}", 1, 1.0);
    hush_fl_model *m = NULL;
    hush_err err = {0};
    cr_assert_eq(hush_agent_accept_model(a, "spam", other.body, other.len,
                                         other.signature, &m, &err),
                 HUSH_EMISMATCH);
    hush_err_clear(&err);
    cr_assert_neq(hush_agent_accept_model(a, "emoji", camp.body, camp.len, camp.signature,
                                          &m, &err),
                  0, "a campaign is not a model");
    cr_assert_null(m);
    hush_fl_model *m3 = accept(a, &r3);
    hush_fl_model *m4 = accept(a, &r4);
    hush_err_clear(&err);
    cr_assert_eq(
        hush_agent_accept_model(a, "spam", r3.body, r3.len, r3.signature, &m, &err),
        HUSH_ESTALE, "%s", err.msg);
    char *out = NULL;
    size_t len = 0;
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_train_round(a, m3, NULL, &out, &len, &err), HUSH_ESTALE);
    double eps = 0;
    uint32_t reports = 9;
    cr_assert_eq(hush_agent_spent_today(a, NULL, &eps, &reports), 0);
    cr_assert_eq(reports, 0);
    hush_agent_close(a);
    now += 3 * DAY;
    a = agent_with_examples(dir, &k, &now, 4);
    hush_err_clear(&err);
    cr_assert_eq(
        hush_agent_accept_model(a, "spam", r3.body, r3.len, r3.signature, &m, &err),
        HUSH_ESTALE, "after a restart and days: %s", err.msg);
    cr_assert_eq(hush_agent_train_round(a, m4, NULL, &out, &len, &err), 0, "%s", err.msg);
    hush_free(out);
    hush_fl_model_free(m3);
    hush_fl_model_free(m4);
    hush_agent_close(a);
    fx_pub_free(&r3);
    fx_pub_free(&r4);
    fx_pub_free(&other);
    fx_pub_free(&camp);
    fx_rmdir(dir);
}

/* Personal training does not depend on the coin: a device never sampled
 * (q tiny) still improves its personal model, and nothing is charged. */
Test(learn, personal_training_needs_no_sampling)
{
    const char *kinds[] = {"ditto", "fedper"};
    for (int i = 0; i < 2; i++) {
        fx_keys k;
        fx_keys_make(&k, 1);
        char *dir = fx_tmpdir();
        int64_t now = T0;
        hush_agent *a = agent_with_examples(dir, &k, &now, 5);
        fx_pub p;
        model_pub_full(&p, &k, "spam", 3, kinds[i], 1e-9, 0,
                       i == 0 ? HUSH_MODEL_LOGISTIC : HUSH_MODEL_MLP, 0.1, 1.0);
        hush_fl_model *m = accept(a, &p);
        double before = spam_probability(a, m, "free casino money bonus");
        char *out = NULL;
        size_t len = 0;
        hush_err err = {0};
        cr_assert_eq(hush_agent_train_round(a, m, NULL, &out, &len, &err),
                     HUSH_ENOTFOUND);
        cr_assert_eq(hush_agent_train_personal(a, m, NULL, &err), 0, "%s", err.msg);
        double after = spam_probability(a, m, "free casino money bonus");
        cr_assert_gt(after, before + 0.05, "%s: %g -> %g", kinds[i], before, after);
        double eps = 0;
        uint32_t reports = 9;
        cr_assert_eq(hush_agent_spent_today(a, NULL, &eps, &reports), 0);
        cr_assert_eq(reports, 0);
        hush_fl_model_free(m);
        hush_agent_close(a);
        fx_pub_free(&p);
        fx_rmdir(dir);
    }
    /* a task without a personal part has nothing to train */
    fx_keys k;
    fx_keys_make(&k, 1);
    char *dir = fx_tmpdir();
    int64_t now = T0;
    hush_agent *a = agent_with_examples(dir, &k, &now, 5);
    fx_pub p;
    model_pub(&p, &k, "none", 1.0, 0, HUSH_MODEL_LOGISTIC);
    hush_fl_model *m = accept(a, &p);
    cr_assert_eq(hush_agent_train_personal(a, m, NULL, NULL), HUSH_EUNSUPPORTED);
    hush_fl_model_free(m);
    hush_agent_close(a);
    fx_pub_free(&p);
    fx_rmdir(dir);
}

/* One device with the usual six examples and an accepted publication
 * (its "state" and extra fields as given), torn down by learn_close. */
typedef struct learn_fx {
    fx_keys k;
    char *dir;
    int64_t now;
    hush_agent *a;
    fx_pub p;
    hush_fl_model *m; /* NULL when the publication was refused */
    int accept_rc;
    hush_err err;
} learn_fx;

static void learn_open(learn_fx *f, uint8_t seed, const char *personalization, double q,
                       hush_model_kind kind, const char *state, const char *extra)
{
    memset(f, 0, sizeof *f);
    fx_keys_make(&f->k, 1);
    f->dir = fx_tmpdir();
    f->now = T0;
    f->a = agent_with_examples(f->dir, &f->k, &f->now, seed);
    pub_state = state;
    pub_extra = extra;
    model_pub(&f->p, &f->k, personalization, q, 0, kind);
    pub_state = pub_extra = NULL;
    f->accept_rc = hush_agent_accept_model(f->a, f->p.id, f->p.body, f->p.len,
                                           f->p.signature, &f->m, &f->err);
}

static void learn_close(learn_fx *f)
{
    hush_fl_model_free(f->m);
    hush_agent_close(f->a);
    fx_pub_free(&f->p);
    fx_rmdir(f->dir);
}

/* What the device has been charged today for the task. */
static uint32_t charged_today(const learn_fx *f)
{
    double eps = 0;
    uint32_t reports = 9;
    cr_assert_eq(hush_agent_spent_today(f->a, NULL, &eps, &reports), 0);
    return reports;
}

Test(learn, a_task_that_is_over_gets_no_update_and_charges_nothing)
{
    static const char *states[] = {"finished", "budget_exhausted", "running"};
    for (int i = 0; i < 3; i++) {
        learn_fx f;
        learn_open(&f, 6, "ditto", 1.0, HUSH_MODEL_LOGISTIC, states[i], NULL);
        cr_assert_eq(f.accept_rc, 0, "%s", f.err.msg);
        char *out = NULL;
        size_t len = 0;
        int rc = hush_agent_train_round(f.a, f.m, NULL, &out, &len, &f.err);
        if (i < 2) {
            cr_assert_eq(rc, HUSH_ESTATE, "%s: %d", states[i], rc);
            cr_assert(contains(f.err.msg, "no more updates"), "%s", f.err.msg);
            cr_assert_null(out);
            cr_assert_eq(charged_today(&f), 0, "nothing charged for a task that is over");
            /* its weights still serve personal training and prediction */
            hush_err_clear(&f.err);
            cr_assert_eq(hush_agent_train_personal(f.a, f.m, NULL, &f.err), 0, "%s",
                         f.err.msg);
        } else {
            cr_assert_eq(rc, 0, "%s", f.err.msg);
            cr_assert_eq(charged_today(&f), 1);
            hush_free(out);
        }
        learn_close(&f);
    }
    /* a state nobody defined is refused with the publication */
    learn_fx f;
    learn_open(&f, 6, "none", 1.0, HUSH_MODEL_LOGISTIC, "paused", NULL);
    cr_assert_eq(f.accept_rc, HUSH_EINVAL);
    cr_assert(contains(f.err.msg, "\"state\""), "%s", f.err.msg);
    learn_close(&f);
}

/* One round under a memory budget: MLP 32-8-2 (282 parameters, head 18).
 * Returns train_round's code; *body_zero and *head_zero say which part of
 * the update is all zero; *charged what the ledger holds after. */
static int budget_round(const char *extra, hush_model_kind kind, size_t budget,
                        bool *body_zero, bool *head_zero, uint32_t *charged)
{
    learn_fx f;
    learn_open(&f, 7, "none", 1.0, kind, NULL, extra);
    cr_assert_eq(f.accept_rc, 0, "%s", f.err.msg);
    char *out = NULL;
    size_t len = 0;
    hush_train_budget tb = {.max_memory_bytes = budget};
    int rc = hush_agent_train_round(f.a, f.m, &tb, &out, &len, &f.err);
    size_t n = kind == HUSH_MODEL_MLP ? 282 : 33, head = kind == HUSH_MODEL_MLP ? 264 : 0;
    if (rc == 0) {
        hush_model_update u;
        cr_assert_eq(hush_model_update_parse(out, len, n, &u, &f.err), 0, "%s",
                     f.err.msg);
        *body_zero = *head_zero = true;
        double norm2 = 0, step = extra != NULL ? 1e-4 : 1;
        for (size_t i = 0; i < n; i++) {
            double v = u.lattice != NULL ? u.lattice[i] * step : u.update[i];
            norm2 += v * v;
            *(i < head ? body_zero : head_zero) &= v == 0;
        }
        cr_assert_leq(sqrt(norm2), 0.5 * (1 + 1e-6), "clipped to the round's norm");
        cr_assert_eq(u.lattice != NULL, extra != NULL);
        hush_free(u.update);
        hush_free(u.lattice);
        hush_free(out);
    } else {
        cr_assert_eq(rc, HUSH_ETOOBIG, "%d %s", rc, f.err.msg);
        cr_assert(contains(f.err.msg, "memory budget"), "%s", f.err.msg);
    }
    *charged = charged_today(&f);
    learn_close(&f);
    return rc;
}

Test(learn, a_memory_budget_trains_the_head_only_and_charges_the_same)
{
    static const char lattice[] =
        "{\"upload\":{\"encoding\":\"lattice\",\"shift\":0,\"step\":1e-4}}";
    bool body_zero = false, head_zero = false;
    uint32_t charged = 0;
    /* no budget, or one the whole model fits: everything trains */
    cr_assert_eq(budget_round(NULL, HUSH_MODEL_MLP, 0, &body_zero, &head_zero, &charged),
                 0);
    cr_assert(!body_zero && !head_zero && charged == 1);
    cr_assert_eq(
        budget_round(NULL, HUSH_MODEL_MLP, 1 << 20, &body_zero, &head_zero, &charged), 0);
    cr_assert(!body_zero && !head_zero);
    /* 2,000 bytes: the whole model needs 4 x 4 x 282, the head about 1,600:
     * the head trains, the body's coordinates are zero, float32 and lattice */
    for (int lat = 0; lat < 2; lat++) {
        const char *extra = lat ? lattice : NULL;
        cr_assert_eq(
            budget_round(extra, HUSH_MODEL_MLP, 2000, &body_zero, &head_zero, &charged),
            0);
        cr_assert(body_zero && !head_zero, "lattice %d: the head only", lat);
        cr_assert_eq(charged, 1, "charged as any round");
    }
    /* too small for either, or a model without a body: refused, nothing
     * charged */
    cr_assert_eq(
        budget_round(NULL, HUSH_MODEL_MLP, 500, &body_zero, &head_zero, &charged),
        HUSH_ETOOBIG);
    cr_assert_eq(charged, 0);
    cr_assert_eq(
        budget_round(NULL, HUSH_MODEL_LOGISTIC, 100, &body_zero, &head_zero, &charged),
        HUSH_ETOOBIG);
    cr_assert_eq(charged, 0);
}

/* Ditto with candidate pulls: after one personal step, how far the
 * device's spam probability of a spam text moved from the global model's
 * (-1 when the publication was refused). */
static double ditto_moved(const char *lambdas)
{
    char extra[200];
    snprintf(extra, sizeof extra, "{\"ditto_lambda\":%s}", lambdas);
    learn_fx f;
    learn_open(&f, 8, "ditto", 1e-9, HUSH_MODEL_LOGISTIC, NULL, extra);
    /* ten more examples that resemble each other: held-out ones are
     * predictable */
    static const char *more[] = {"free casino money bonus now", "casino bonus free money",
                                 "money bonus casino free win", "free money casino bonus",
                                 "bonus free casino money today"};
    static const char *more_ham[] = {
        "project meeting agenda review", "review the project agenda",
        "agenda for the project meeting", "meeting review project",
        "project agenda meeting notes"};
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(hush_agent_add_example(f.a, more[i], strlen(more[i]), 1, NULL), 0);
        cr_assert_eq(
            hush_agent_add_example(f.a, more_ham[i], strlen(more_ham[i]), 0, NULL), 0);
    }
    double moved = -1;
    if (f.accept_rc == 0) {
        double before = spam_probability(f.a, f.m, "free casino money bonus");
        cr_assert_eq(hush_agent_train_personal(f.a, f.m, NULL, &f.err), 0, "%s",
                     f.err.msg);
        moved = fabs(spam_probability(f.a, f.m, "free casino money bonus") - before);
    }
    learn_close(&f);
    return moved;
}

Test(learn, ditto_candidates_let_each_device_choose_its_pull)
{
    /* the global model is a random start: held-out examples say "move"
     * (a pull of 0 beats 1e4 by far), so the device picks 0 from the list
     * and its model moves as far as with 0 alone; with 1e4 alone it stays */
    double chosen = ditto_moved("[0, 10000]");
    double free_ = ditto_moved("0"), held = ditto_moved("10000");
    cr_assert_gt(chosen, 0.1, "moved %g", chosen);
    cr_assert_lt(held, 0.01, "held %g", held);
    cr_assert_float_eq(chosen, free_, 0.05, "chosen %g, free %g", chosen, free_);
    /* lists are 1 to 8 increasing numbers */
    static const char *bad[] = {
        "[]", "[0.1, 0.01]", "[0.1, 0.1]", "[1,2,3,4,5,6,7,8,9]", "[-1]", "[\"x\"]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(ditto_moved(bad[i]), -1, "%s accepted", bad[i]);
    }
}
