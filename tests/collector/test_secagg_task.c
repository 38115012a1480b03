/*
 * test_secagg_task.c - a model task's secure aggregation end to end, in
 * one process: real devices (libhush-device: training, distributed-DP
 * encoding, the sans-I/O session, the ledger) talk to the collector's
 * real task code (models_secagg.c and the round engine) through the same
 * documents, statuses and error documents HTTP would carry.  What the
 * devices enforce on their own: a charge once per participation, the cap
 * on participations, no signature on a survivor list shorter than the
 * noise floor, and an abort when the attempt they joined is gone.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <stdio.h>

#include "api.h"
#include "collector/collector_fixture.h"
#include "device/device_fixture.h"
#include "hush_device.h"
#include "hush_embed.h"
#include "hush_learning.h"
#include "hush_transport.h"
#include "models_secagg.h"

enum { N = 6, DIM = 32, SIZE = DIM + 1 }; /* logistic, two classes: one output */

static const char *const texts[] = {
    "cheap meds online buy now", "lunch on friday at noon",
    "claim your prize money today", "the build is green again"};

/* A signed secure-aggregation publication of round `round` whose plan is
 * (min_devices, max_devices, 20 bits, z) for the logistic model. */
static void sa_pub(fx_pub *p, const fx_keys *k, int round, uint32_t min_devices,
                   uint32_t max_devices, uint32_t participations, hush_ddg *plan)
{
    static const char desc[] =
        "{\"kind\":\"hashed-ngram\",\"version\":1,\"dim\":32,\"seed\":4}";
    hush_embedder *e = NULL;
    char *canon = NULL, *w = NULL;
    cr_assert_eq(hush_embedder_new(desc, sizeof desc - 1, NULL, 0, NULL, &e, NULL), 0);
    cr_assert_eq(hush_embedder_describe(e, &canon, NULL), 0);
    hush_model_spec spec = {.kind = HUSH_MODEL_LOGISTIC, .inputs = DIM, .classes = 2};
    hush_model *m = NULL;
    cr_assert_eq(hush_model_new(&spec, 1, &m, NULL), 0);
    cr_assert_eq(hush_model_to_base64(m, &w, NULL), 0);
    uint8_t seed[32] = {7};
    cr_assert_eq(hush_ddg_plan((uint32_t)hush_model_size(m), 0.5, min_devices,
                               max_devices, 20, 1.0, seed, plan, NULL),
                 0);
    char *seed64 = hush_b64_encode(seed, sizeof seed);
    json_t *doc = json_pack(
        "{s:s, s:i, s:s, s:{s:s, s:i, s:i, s:i}, s:[s, s], s:o, s:f, s:b, s:f, "
        "s:{s:i, s:i, s:f}, s:s, s:s, s:s}",
        "model", "spam", "round", round, "name", "Spam", "architecture", "kind",
        "logistic", "inputs", DIM, "classes", 2, "hidden", 0, "labels", "ham", "spam",
        "embedder", json_loads(canon, 0, NULL), "clip_norm", 0.5, "adaptive_clipping",
        false, "sampling_rate", 1.0, "local", "epochs", 2, "batch", 4, "lr", 0.5,
        "personalization", "none", "weights", w, "aggregation", "secagg");
    json_object_set_new(
        doc, "secagg",
        json_pack("{s:i, s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:{s:f, s:i, s:s}}",
                  "min_devices", (int)min_devices, "max_devices", (int)max_devices,
                  "max_participations", (int)participations, "bits", 20,
                  "noise_multiplier", 1.0, "delta", 1e-5, "dropout", 0.0, "dishonest",
                  0.0, "stage_seconds", 10.0, "ddg", "gamma", plan->gamma, "sigma",
                  (int)plan->sigma, "seed", seed64));
    char *body = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17));
    fx_pub_sign(p, k, body, strlen(body));
    free(body);
    json_decref(doc);
    hush_free(seed64);
    hush_free(w);
    hush_free(canon);
    hush_model_free(m);
    hush_embedder_free(e);
}

/* The collector's side of the task: what the spec said. */
static hush__task_sa *sa_task_dim(uint32_t min_devices, uint32_t max_devices, int round,
                                  uint32_t dim)
{
    hush__sa_spec spec = {.min_devices = min_devices,
                          .max_devices = max_devices,
                          .max_participations = 2,
                          .bits = 20,
                          .max_attempts = 3,
                          .stage_seconds = 10,
                          .z = 1.0};
    hush__task_sa *s = NULL;
    hush__fail f = {0};
    cr_assert_eq(hush__task_sa_new(&spec, dim, 0.5, &s, &f), 0);
    cr_assert_eq(hush__task_sa_open(s, (uint32_t)round, true, 0, NULL), 0);
    return s;
}

static hush__task_sa *sa_task(uint32_t min_devices, uint32_t max_devices, int round)
{
    return sa_task_dim(min_devices, max_devices, round, SIZE);
}

/* One request through the collector's task code, answered as HTTP would. */
static void exchange(hush__task_sa *sa, const hush_secagg_request *req, double now,
                     long *status, char **body)
{
    char session[64] = "";
    unsigned index = 0;
    const char *q = strchr(req->path, '?');
    if (q != NULL) {
        cr_assert(sscanf(q, "?session=%63[^&]&index=%u", session, &index) >= 1, "%s",
                  req->path);
    }
    hush__fail f = {0};
    json_t *out = NULL;
    int rc = req->post ? hush__task_sa_post(sa, q != NULL ? session : NULL, req->token,
                                            req->body, req->len, now, &out, &f)
                       : hush__task_sa_get(sa, session, index, now, body, &f);
    if (rc != 0) {
        size_t len = 0;
        *status = hush__status_of(rc);
        *body = hush__error_json(f.reason != NULL ? f.reason : "error", f.err.msg, &len);
        return;
    }
    *status = req->post ? (q != NULL ? 200 : 201) : 200;
    if (out != NULL) {
        *body = hush_json_dumps(out, JSON_COMPACT);
        json_decref(out);
    }
}

/* Sessions in lock step until none runs; a pass in which every running
 * session only waits moves the clock past the stage's deadline. */
static void drive(hush__task_sa *sa, hush_fl_secagg **s, size_t n, double *now)
{
    for (int pass = 0; pass < 1000; pass++) {
        size_t running = 0, waiting = 0;
        for (size_t i = 0; i < n; i++) {
            hush_secagg_request req;
            if (s[i] == NULL || hush_fl_secagg_next(s[i], &req, NULL) != 0) {
                continue;
            }
            running++;
            long status = 0;
            char *body = NULL;
            exchange(sa, &req, *now, &status, &body);
            hush_err err = {0};
            int rc = hush_fl_secagg_handle(s[i], status, body,
                                           body != NULL ? strlen(body) : 0, &err);
            if (rc != 0) {
                cr_log_info("device %zu: %s", i, err.msg);
            }
            hush_free(body);
            hush_secagg_request after;
            waiting += hush_fl_secagg_next(s[i], &after, NULL) == 0 && after.wait > 0;
        }
        if (running == 0) {
            return;
        }
        if (waiting == running) {
            *now += 11;
        }
    }
    cr_assert_fail("the sessions did not end");
}

static hush_agent *device(const char *dir, const fx_keys *k, int64_t *now, int i)
{
    uint8_t seed[32];
    memset(seed, 40 + i, sizeof seed);
    hush_agent_config cfg = fx_config(dir, k, now, seed);
    hush_agent *a = NULL;
    hush_err err = {0};
    cr_assert_eq(hush_agent_open(&cfg, &a, &err), 0, "%s", err.msg);
    for (int j = 0; j < 4; j++) {
        cr_assert_eq(hush_agent_add_example(a, texts[(i + j) % 4],
                                            strlen(texts[(i + j) % 4]), (i + j) % 2,
                                            &err),
                     0);
    }
    return a;
}

struct world {
    fx_keys k;
    char *dir[N];
    hush_agent *a[N];
    int64_t clock;
};

static void world_open(struct world *w)
{
    fx_keys_make(&w->k, 1);
    w->clock = 20000LL * 86400;
    for (int i = 0; i < N; i++) {
        w->dir[i] = fx_tmpdir();
        w->a[i] = device(w->dir[i], &w->k, &w->clock, i);
    }
}

static void world_close(struct world *w)
{
    for (int i = 0; i < N; i++) {
        hush_agent_close(w->a[i]);
        fx_rmdir(w->dir[i]);
    }
}

static hush_fl_model *accept_pub(hush_agent *a, const fx_pub *p)
{
    hush_fl_model *m = NULL;
    hush_err err = {0};
    cr_assert_eq(
        hush_agent_accept_model(a, "spam", p->body, p->len, p->signature, &m, &err), 0,
        "%s", err.msg);
    return m;
}

static uint32_t spent(hush_agent *a)
{
    double eps = 0;
    uint32_t reports = 0;
    cr_assert_eq(hush_agent_spent_today(a, "model/spam", &eps, &reports), 0);
    return reports;
}

/* Six devices through every stage: the collector releases the sum of six
 * noised updates, each device charged once, and a device that took part
 * max_participations times refuses the next round. */
Test(secagg_task, devices_and_collector_complete_a_round_and_devices_keep_their_cap)
{
    struct world w;
    world_open(&w);
    fx_pub p3, p4, p5;
    hush_ddg plan;
    sa_pub(&p3, &w.k, 3, 4, 8, 2, &plan);
    hush__task_sa *sa = sa_task(4, 8, 3);
    hush_fl_secagg *s[N] = {0};
    hush_fl_model *m[N] = {0};
    hush_err err = {0};
    for (int i = 0; i < N; i++) {
        m[i] = accept_pub(w.a[i], &p3);
        cr_assert_eq(hush_agent_secagg_begin(w.a[i], m[i], NULL, &s[i], &err), 0, "%s",
                     err.msg);
        cr_assert_eq(spent(w.a[i]), 0, "nothing charged before the masked update");
    }
    char *plain = NULL;
    size_t plain_len = 0;
    cr_assert_eq(hush_agent_train_round(w.a[0], m[0], NULL, &plain, &plain_len, &err),
                 HUSH_EUNSUPPORTED, "no plain update for a secagg task");
    double now = 1;
    drive(sa, s, N, &now);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(hush_fl_secagg_state(s[i]), HUSH_FL_SECAGG_DONE, "device %d", i);
        cr_assert_eq(spent(w.a[i]), 1, "charged once");
    }
    float *mean = NULL;
    uint32_t survivors = 0;
    const char *failed = NULL;
    cr_assert_eq(hush__task_sa_settle(sa, now, &mean, &survivors, &failed, &err), 1, "%s",
                 failed != NULL ? failed : err.msg);
    cr_assert_eq(survivors, N);
    /* each update is clipped to 0.5; the mean's noise has sd sigma gamma
     * sqrt(6) / 6 a coordinate: its norm is far below 0.5 + 6 sd sqrt(d) */
    double norm = 0, sd = plan.sigma * plan.gamma * sqrt((double)N) / N;
    for (size_t i = 0; i < SIZE; i++) {
        cr_assert(isfinite(mean[i]));
        norm += (double)mean[i] * mean[i];
    }
    cr_assert_lt(sqrt(norm), 0.5 + 6 * sd * sqrt((double)(SIZE)), "%g", sqrt(norm));
    hush_free(mean);
    /* once a round */
    hush_fl_secagg *again = NULL;
    cr_assert_eq(hush_agent_secagg_begin(w.a[0], m[0], NULL, &again, &err), HUSH_EBUDGET);
    /* round 4: the second participation; round 5: past the cap of 2 */
    sa_pub(&p4, &w.k, 4, 4, 8, 2, &plan);
    sa_pub(&p5, &w.k, 5, 4, 8, 2, &plan);
    for (int i = 0; i < N; i++) {
        hush_fl_secagg_free(s[i]);
        hush_fl_model_free(m[i]);
        s[i] = NULL;
    }
    w.clock += 86400; /* a new day: the daily budget is not what stops it */
    cr_assert_eq(hush__task_sa_open(sa, 4, true, now, NULL), 0);
    for (int i = 0; i < N; i++) {
        m[i] = accept_pub(w.a[i], &p4);
        cr_assert_eq(hush_agent_secagg_begin(w.a[i], m[i], NULL, &s[i], &err), 0, "%s",
                     err.msg);
    }
    drive(sa, s, N, &now);
    cr_assert_eq(hush__task_sa_settle(sa, now, &mean, &survivors, &failed, &err), 1);
    hush_free(mean);
    w.clock += 86400;
    hush_fl_model *m5 = accept_pub(w.a[0], &p5);
    hush_err_clear(&err);
    cr_assert_eq(hush_agent_secagg_begin(w.a[0], m5, NULL, &again, &err), HUSH_EBUDGET);
    cr_assert(strstr(err.msg, "took part in 2 rounds") != NULL, "%s", err.msg);
    hush_fl_model_free(m5);
    for (int i = 0; i < N; i++) {
        hush_fl_secagg_free(s[i]);
        hush_fl_model_free(m[i]);
    }
    hush__task_sa_free(sa);
    fx_pub_free(&p3);
    fx_pub_free(&p4);
    fx_pub_free(&p5);
    world_close(&w);
}

/* A collector that would release a sum of fewer devices than the noise
 * floor the publication promised (its engine set to 3, the publication
 * saying 5): two devices leave after the shares, and the four left (the
 * quorum q of six) refuse to sign the survivor list.  Nothing is
 * released. */
Test(secagg_task, devices_refuse_a_sum_below_the_published_noise_floor)
{
    struct world w;
    world_open(&w);
    fx_pub p;
    hush_ddg plan;
    sa_pub(&p, &w.k, 3, 5, 8, 2, &plan);
    hush__task_sa *sa = sa_task(3, 8, 3); /* the dishonest engine */
    hush_fl_secagg *s[N] = {0};
    hush_fl_model *m[N] = {0};
    hush_err err = {0};
    for (int i = 0; i < N; i++) {
        m[i] = accept_pub(w.a[i], &p);
        cr_assert_eq(hush_agent_secagg_begin(w.a[i], m[i], NULL, &s[i], &err), 0, "%s",
                     err.msg);
    }
    double now = 1;
    /* everyone through the shares: keys, the list, boxes posted */
    for (int step = 0; step < 3; step++) {
        for (int i = 0; i < N; i++) {
            hush_secagg_request req;
            cr_assert_eq(hush_fl_secagg_next(s[i], &req, NULL), 0);
            long status = 0;
            char *body = NULL;
            exchange(sa, &req, now, &status, &body);
            cr_assert_eq(hush_fl_secagg_handle(s[i], status, body,
                                               body != NULL ? strlen(body) : 0, &err),
                         0, "%s", err.msg);
            hush_free(body);
        }
        if (step == 0) {
            now += 11; /* the keys stage's deadline: 6 of at most 8 came */
        }
    }
    /* devices 4 and 5 drop out */
    for (int i = 4; i < N; i++) {
        hush_fl_secagg_free(s[i]);
        s[i] = NULL;
    }
    drive(sa, s, N, &now);
    for (int i = 0; i < 4; i++) {
        hush_secagg_request req;
        hush_err why = {0};
        cr_assert_eq(hush_fl_secagg_state(s[i]), HUSH_FL_SECAGG_ABORTED, "device %d", i);
        cr_assert_neq(hush_fl_secagg_next(s[i], &req, &why), 0);
        cr_assert(strstr(why.msg, "privacy counts on") != NULL, "%s", why.msg);
    }
    float *mean = NULL;
    uint32_t survivors = 0;
    const char *failed = NULL;
    int rc = 0;
    bool seen_failure = false;
    for (int i = 0; i < 3 && rc == 0; i++) { /* deadlines pass; nothing is released */
        now += 11;
        rc = hush__task_sa_settle(sa, now, &mean, &survivors, &failed, &err);
        cr_assert_neq(rc, 1, "a sum below the noise floor was released");
        cr_assert_null(mean);
        seen_failure = seen_failure || failed != NULL;
    }
    cr_assert(seen_failure, "the attempt failed");
    for (int i = 0; i < N; i++) {
        hush_fl_secagg_free(s[i]);
        hush_fl_model_free(m[i]);
    }
    hush__task_sa_free(sa);
    fx_pub_free(&p);
    world_close(&w);
}

/* The attempt a device joined is gone (a restart, or a failed attempt and
 * a new one): its next document is refused with secagg_session_over and
 * the session aborts, nothing charged. */
Test(secagg_task, a_device_aborts_when_its_attempt_is_gone)
{
    struct world w;
    world_open(&w);
    fx_pub p;
    hush_ddg plan;
    sa_pub(&p, &w.k, 3, 4, 8, 2, &plan);
    hush__task_sa *sa = sa_task(4, 8, 3);
    hush_err err = {0};
    hush_fl_model *m = accept_pub(w.a[0], &p);
    hush_fl_secagg *s = NULL;
    cr_assert_eq(hush_agent_secagg_begin(w.a[0], m, NULL, &s, &err), 0, "%s", err.msg);
    hush_secagg_request req;
    long status = 0;
    char *body = NULL;
    cr_assert_eq(hush_fl_secagg_next(s, &req, NULL), 0);
    exchange(sa, &req, 1, &status, &body);
    cr_assert_eq(status, 201, "%s", body);
    cr_assert_eq(hush_fl_secagg_handle(s, status, body, strlen(body), &err), 0);
    hush_free(body);
    cr_assert_eq(hush__task_sa_open(sa, 3, false, 2, NULL), 0, "a new attempt");
    cr_assert_eq(hush_fl_secagg_next(s, &req, NULL), 0);
    exchange(sa, &req, 2, &status, &body);
    cr_assert_eq(status, 409);
    cr_assert(strstr(body, "secagg_session_over") != NULL, "%s", body);
    cr_assert_eq(hush_fl_secagg_handle(s, status, body, strlen(body), &err), HUSH_ESTATE);
    hush_free(body);
    cr_assert_eq(hush_fl_secagg_state(s), HUSH_FL_SECAGG_ABORTED);
    cr_assert(strstr(err.msg, "not the open one") != NULL, "%s", err.msg);
    cr_assert_eq(spent(w.a[0]), 0);
    hush_fl_secagg_free(s);
    /* a token that is not base64 (it would go back in a header) */
    static const char evil[] = "{\"session\":\"3.0011223344556677\",\"index\":0,"
                               "\"token\":\"AA\\r\\nX-Evil: 1\",\"duplicate\":false}";
    cr_assert_eq(hush_agent_secagg_begin(w.a[0], m, NULL, &s, &err), 0, "%s", err.msg);
    cr_assert_eq(hush_fl_secagg_next(s, &req, NULL), 0);
    hush_err_clear(&err);
    cr_assert_eq(hush_fl_secagg_handle(s, 201, evil, sizeof evil - 1, &err), HUSH_ESTATE);
    cr_assert(strstr(err.msg, "malformed") != NULL, "%s", err.msg);
    hush_fl_secagg_free(s);
    hush_fl_model_free(m);
    hush__task_sa_free(sa);
    fx_pub_free(&p);
    world_close(&w);
}

/* A key list whose vectors are longer than this device's encoded update
 * (the collector's round for another model size): the device would mask
 * memory it does not own.  It aborts before sharing anything. */
Test(secagg_task, a_key_list_for_other_vectors_is_refused)
{
    struct world w;
    world_open(&w);
    fx_pub p;
    hush_ddg plan;
    sa_pub(&p, &w.k, 3, 4, 8, 2, &plan);
    hush__task_sa *sa = sa_task_dim(4, 8, 3, 2 * SIZE); /* twice the length */
    hush_fl_secagg *s[N] = {0};
    hush_fl_model *m[N] = {0};
    hush_err err = {0};
    for (int i = 0; i < N; i++) {
        m[i] = accept_pub(w.a[i], &p);
        cr_assert_eq(hush_agent_secagg_begin(w.a[i], m[i], NULL, &s[i], &err), 0);
    }
    double now = 1;
    drive(sa, s, N, &now);
    for (int i = 0; i < N; i++) {
        hush_secagg_request req;
        hush_err why = {0};
        cr_assert_eq(hush_fl_secagg_state(s[i]), HUSH_FL_SECAGG_ABORTED);
        cr_assert_neq(hush_fl_secagg_next(s[i], &req, &why), 0);
        cr_assert(strstr(why.msg, "not the publication's") != NULL, "%s", why.msg);
        cr_assert_eq(spent(w.a[i]), 0);
        hush_fl_secagg_free(s[i]);
        hush_fl_model_free(m[i]);
    }
    hush__task_sa_free(sa);
    fx_pub_free(&p);
    world_close(&w);
}

/* The curl driver (hush_fl_secagg_run) against a real collector over HTTP:
 * six devices, each on its own thread with its own transport, run a round
 * of a task created through the API; the round closes with the sum of all
 * six and each device is charged once.  (The Hush-Secagg-Token header and
 * the polling back-off are what this covers beyond the tests above.) */
struct runner {
    hush_agent *a;
    hush_fl_model *m;
    char base[64];
    int rc;
    char why[HUSH_ERR_MSG_MAX + 1];
};

static void *run_device(void *arg)
{
    struct runner *r = arg;
    hush_transport *t = NULL;
    hush_fl_secagg *s = NULL;
    hush_err err = {0};
    r->rc = hush_transport_new(r->base, NULL, &t, &err);
    if (r->rc == 0) {
        r->rc = hush_agent_secagg_begin(r->a, r->m, NULL, &s, &err);
    }
    if (r->rc == 0) {
        r->rc = hush_fl_secagg_run(s, t, 60, &err);
    }
    snprintf(r->why, sizeof r->why, "%s", err.msg);
    hush_fl_secagg_free(s);
    hush_transport_free(t);
    return NULL;
}

Test(secagg_task, six_devices_run_a_round_over_http_with_the_curl_driver)
{
    char dir[64];
    hush_collector *h = fixture_start(dir);
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%u", hush_collector_port(h));
    json_t *spec = fixture_json(
        "{\"id\":\"spam\",\"name\":\"S\",\"architecture\":{\"kind\":\"logistic\"},"
        "\"embedder\":{\"kind\":\"hashed-ngram\",\"version\":1,\"dim\":32,\"seed\":4},"
        "\"labels\":[\"ham\",\"spam\"],\"clip_norm\":0.5,\"expected_clients\":6,"
        "\"population\":6,\"rounds\":3,\"target_epsilon\":8,\"dp\":\"distributed\","
        "\"aggregation\":\"secagg\",\"local\":{\"epochs\":1,\"batch\":4,\"lr\":0.5},"
        "\"secure_aggregation\":{\"min_devices\":6,\"max_devices\":6,\"dropout\":0,"
        "\"dishonest\":0,\"stage_seconds\":20}}");
    json_t *out = NULL;
    hush__fail f = {0};
    cr_assert_eq(hush__task_create(h, spec, &out, &f), 0, "%s", f.err.msg);
    json_decref(out);
    json_decref(spec);
    hush__task *task = hush__task_find(h, "spam");
    char *sig = NULL;
    size_t len = 0;
    char *pub = hush__task_publication(task, &sig, &len);
    fx_keys k = {0};
    hush__sign_pk(h, k.sign_pk);
    struct world w;
    w.clock = 20000LL * 86400;
    struct runner r[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        w.dir[i] = fx_tmpdir();
        w.a[i] = device(w.dir[i], &k, &w.clock, i);
        hush_err err = {0};
        r[i] = (struct runner){.a = w.a[i]};
        snprintf(r[i].base, sizeof r[i].base, "%s", base);
        cr_assert_eq(
            hush_agent_accept_model(w.a[i], "spam", pub, len, sig, &r[i].m, &err), 0,
            "%s", err.msg);
    }
    for (int i = 0; i < N; i++) {
        cr_assert_eq(pthread_create(&th[i], NULL, run_device, &r[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(r[i].rc, 0, "device %d: %s", i, r[i].why);
        cr_assert_eq(spent(w.a[i]), 1);
        hush_fl_model_free(r[i].m);
    }
    json_t *priv = hush__task_privacy(task);
    cr_assert_eq(json_integer_value(json_object_get(priv, "rounds_completed")), 1,
                 "the round closed with the six devices' sum");
    json_decref(priv);
    hush_free(pub);
    hush_free(sig);
    world_close(&w);
    fixture_stop(h, dir);
}
