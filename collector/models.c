/*
 * models.c - federated learning tasks: DP-FedAvg on the collector.
 *
 * A task holds a global model.  Each round it publishes the model, signed;
 * devices that sample themselves in (probability q) train locally and post
 * one clipped update each (a batch_id de-duplicates retries).  Updates are
 * checked (length, finite, norm <= the clip) before anything is stored, then
 * stored and added to the round's lattice accumulator.  The round closes
 * when an admin closes it or its deadline passes, never on a count
 * (min_clients is a floor for closing, not a cap: keeping the first K
 * arrivals would make who is counted depend on arrival order, which the
 * accountant's Poisson sampling does not cover), and the sum gets
 * discrete Gaussian noise of standard deviation z S per coordinate, is
 * divided by the expected number of clients, and the server optimizer
 * applies it; adaptive clipping moves S.  Before a round opens, the RDP
 * accountant checks that closing it keeps epsilon within the task's
 * target; a task that cannot stops ("budget_exhausted") and refuses
 * updates.  Late updates (for a closed round) get 409.
 *
 * Concurrency: each task has a mutex; requests on different tasks do not
 * meet.  Durability: the model, its optimizer state and clip, and every
 * stored update of the open round are in SQLite; a restart replays the
 * round's updates into a fresh accumulator.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "domain.h"
#include "hush_json.h"
#include "models_secagg.h"

#define TASK_FIELDS_MAX 32

static int task_save(hush_collector *h, const hush__task *t, bool fresh,
                     hush__model_round *closed, hush_err *err);
static int task_replay(hush_collector *h, hush__task *t, hush_err *err);

enum task_state { TASK_RUNNING = 0, TASK_FINISHED = 1, TASK_EXHAUSTED = 2 };

static const char *state_name(int s)
{
    return s == TASK_RUNNING    ? "running"
           : s == TASK_FINISHED ? "finished"
                                : "budget_exhausted";
}

struct hush__task {
    char id[HUSH_MODEL_ID_MAX + 1];
    char *name;
    int64_t created_at;
    char *spec;       /* the creation request, canonical JSON */
    json_t *template; /* the publication's fixed fields */
    pthread_mutex_t lock;
    /* settings */
    double q, z, z_update, delta, target_eps, bit_noise, clip_lr, target_quantile;
    double local_noise; /* devices noise their own updates (local DP) */
    bool adaptive, fedper;
    bool dp_none;     /* "dp": "none": explicitly no central privacy */
    bool distributed; /* "dp": "distributed": devices add the noise */
    /* "aggregation": "secagg" with "dp": "distributed"; NULL: plain */
    hush__task_sa *sa;
    uint32_t expected, min_clients, max_rounds, round_seconds;
    size_t update_size;
    bool lattice; /* devices send lattice integers ("upload") */
    uint32_t lattice_shift;
    /* state */
    uint32_t round, done;
    int state;
    double clip;
    hush_model *global;
    hush_fedavg *agg;
    hush_server_opt *opt;
    char *pub_body;
    char *signature;
    double opened;
};

static void task_free(hush__task *t)
{
    if (t == NULL) {
        return;
    }
    hush_free(t->name);
    hush_free(t->spec);
    json_decref(t->template);
    hush_model_free(t->global);
    hush_fedavg_free(t->agg);
    hush_server_opt_free(t->opt);
    hush__task_sa_free(t->sa);
    hush_free(t->pub_body);
    hush_free(t->signature);
    pthread_mutex_destroy(&t->lock);
    hush_free(t);
}

void hush__tasks_free(hush_collector *h)
{
    for (size_t i = 0; i < h->n_tasks; i++) {
        task_free(h->tasks[i]);
    }
    hush_free(h->tasks);
    h->tasks = NULL;
    h->n_tasks = 0;
}

hush__task *hush__task_find(hush_collector *h, const char *id)
{
    hush__task *found = NULL;
    pthread_rwlock_rdlock(&h->campaigns_lock);
    for (size_t i = 0; i < h->n_tasks && found == NULL; i++) {
        if (strcmp(h->tasks[i]->id, id) == 0) {
            found = h->tasks[i];
        }
    }
    pthread_rwlock_unlock(&h->campaigns_lock);
    return found;
}

/* epsilon after `rounds` aggregated rounds (0 without noise: no guarantee) */
static double epsilon_after(const hush__task *t, uint32_t rounds, double *order)
{
    double eps = 0;
    *order = NAN;
    if (t->sa != NULL) { /* per device, over the participations it allows */
        return hush__task_sa_epsilon(t->sa, rounds, t->delta);
    }
    if (t->z <= 0 || rounds == 0) {
        return t->z <= 0 && rounds > 0 ? INFINITY : 0;
    }
    if (hush_rdp_epsilon(t->q, t->z, rounds, t->delta, &eps, order, NULL) != 0) {
        return INFINITY;
    }
    return eps;
}

/* Can round `done + 1` be closed within the budget? */
static bool round_affordable(const hush__task *t)
{
    double order;
    return t->target_eps <= 0 || epsilon_after(t, t->done + 1, &order) <= t->target_eps;
}

/* The largest norm an update may have: the clip, or with local DP a bound
 * the clipped update plus its noise stays under (the server cannot see the
 * update before the noise): S (1 + z_local (sqrt(d) + 10)), more than ten
 * standard deviations above the noise's expected norm. */
static double norm_bound(const hush__task *t)
{
    return t->local_noise > 0
               ? t->clip * (1 + t->local_noise * (sqrt((double)t->update_size) + 10))
               : t->clip;
}

/* The aggregator for the open round, at the current clip. */
static int make_aggregator(hush__task *t, hush_err *err)
{
    hush_fedavg_free(t->agg);
    t->agg = NULL;
    hush_fedavg_config cfg = {.dim = t->update_size,
                              .clip = norm_bound(t),
                              .noise_multiplier = t->z_update,
                              .expected_clients = t->z > 0 ? t->expected : 0,
                              .bit_noise = t->adaptive && t->z > 0 ? t->bit_noise : 0};
    return hush_fedavg_new(&cfg, &t->agg, err);
}

/* Builds and signs the publication of the open round. */
static int publish(hush_collector *h, hush__task *t, hush_err *err)
{
    char *weights = NULL;
    int rc = hush_model_to_base64(t->global, &weights, err);
    if (rc != 0) {
        return rc;
    }
    json_t *doc = json_deep_copy(t->template);
    if (doc != NULL && t->lattice) { /* the round's lattice, at its clip */
        json_object_set_new(doc, "upload",
                            json_pack("{s:s, s:I, s:f}", "encoding", "lattice", "shift",
                                      (json_int_t)t->lattice_shift, "step",
                                      hush_fedavg_lattice_step(t->z_update, norm_bound(t),
                                                               t->update_size)));
    }
    if (doc != NULL && t->sa != NULL) {
        json_object_set_new(doc, "aggregation", json_string("secagg"));
        json_object_set_new(doc, "secagg", hush__task_sa_publication(t->sa, t->delta));
    }
    if (doc == NULL || json_object_set_new(doc, "round", json_integer(t->round)) != 0 ||
        json_object_set_new(doc, "state", json_string(state_name(t->state))) != 0 ||
        json_object_set_new(doc, "clip_norm", json_real(t->clip)) != 0 ||
        json_object_set_new(doc, "weights", json_string(weights)) != 0) {
        json_decref(doc);
        hush_free(weights);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory publishing a model");
    }
    hush_free(weights);
    char *body = hush_json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(doc);
    if (body == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory publishing a model");
    }
    /* a device must accept what is published */
    hush_model_pub *check = NULL;
    if ((rc = hush_model_pub_parse(body, strlen(body), &check, err)) != 0) {
        hush_free(body);
        return rc;
    }
    hush_model_pub_free(check);
    uint8_t sig[crypto_sign_BYTES];
    hush__sign(h, body, strlen(body), sig);
    char *sig_b64 = hush_b64_encode(sig, sizeof sig);
    if (sig_b64 == NULL) {
        hush_free(body);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory publishing a model");
    }
    hush_free(t->pub_body);
    hush_free(t->signature);
    t->pub_body = body;
    t->signature = sig_b64;
    return 0;
}

/* ---- reading a task's settings (creation and restart alike) ---- */

static double num(const json_t *o, const char *key, double dflt)
{
    const json_t *v = json_object_get(o, key);
    return v == NULL ? dflt : json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *const create_fields[] = {"id",
                                            "upload",
                                            "name",
                                            "architecture",
                                            "embedder",
                                            "labels",
                                            "clip_norm",
                                            "adaptive_clipping",
                                            "noise_multiplier",
                                            "delta",
                                            "target_epsilon",
                                            "expected_clients",
                                            "population",
                                            "rounds",
                                            "min_clients",
                                            "round_seconds",
                                            "server_optimizer",
                                            "server_lr",
                                            "local",
                                            "personalization",
                                            "ditto_lambda",
                                            "local_noise_multiplier",
                                            "budget",
                                            "seed",
                                            "dp",
                                            "aggregation",
                                            "secure_aggregation",
                                            NULL};

/*
 * Builds a task from its creation request.  `fresh`: a new task (draws the
 * initial model and resolves the noise multiplier); otherwise the spec is
 * a stored one and the state comes from the store afterwards.
 */
/* Every field of the spec is one the task knows. */
static int spec_fields(const json_t *req, hush__fail *f)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)req, key, v)
    {
        bool known = false;
        for (size_t i = 0; create_fields[i] != NULL; i++) {
            known = known || strcmp(key, create_fields[i]) == 0;
        }
        if (!known) {
            return hush__fail_set(f, HUSH_EINVAL, "malformed", "unknown field \"%s\"",
                                  key);
        }
    }
    return 0;
}

/* A new task with the spec's id and name. */
static int task_new(const json_t *req, hush__task **out, hush__fail *f)
{
    const char *id = json_string_value(json_object_get(req, "id"));
    const char *name = json_string_value(json_object_get(req, "name"));
    if (id == NULL || strlen(id) == 0 || strlen(id) > HUSH_MODEL_ID_MAX ||
        strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") !=
            strlen(id)) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_id",
                              "\"id\" must be 1 to 64 letters, digits, '-' or '_'");
    }
    if (name == NULL || strlen(name) == 0 || strlen(name) > 200) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_name",
                              "\"name\" must be 1 to 200 bytes");
    }
    hush__task *t = hush_calloc(1, sizeof *t);
    if (t == NULL) {
        return hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
    }
    pthread_mutex_init(&t->lock, NULL);
    snprintf(t->id, sizeof t->id, "%s", id);
    t->name = hush_strdup(name);
    *out = t;
    return t->name != NULL ? 0
                           : hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
}

/* The embedder devices embed their texts with (the default when the spec
 * names none): its canonical description and its dimension. */
static int spec_embedder(hush_collector *h, const json_t *req, json_t **emb_json,
                         uint32_t *dim, hush__fail *f)
{
    const json_t *emb = json_object_get(req, "embedder");
    hush_embedder *e = NULL;
    hush_err err = {0};
    char *desc =
        emb != NULL ? hush_json_dumps(emb, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    int rc = emb == NULL ? hush_embedder_new_default(256, 1, &e, &err)
             : desc == NULL
                 ? HUSH_EINVAL
                 : hush_embedder_new(desc, strlen(desc), NULL, 0, h->wordvec, &e, &err);
    hush_free(desc);
    if (rc != 0) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_embedder", "%s",
                              err.msg[0] ? err.msg
                                         : "\"embedder\" must be a description");
    }
    char *canon = NULL;
    rc = hush_embedder_describe(e, &canon, &err);
    *dim = hush_embedder_dim(e);
    hush_embedder_free(e);
    if (rc != 0) {
        return hush__fail_internal(f, &err);
    }
    *emb_json = json_loads(canon, 0, NULL);
    hush_free(canon);
    return *emb_json != NULL
               ? 0
               : hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
}

/* The model's shape: its kind, hidden units, and one class per label. */
static int spec_architecture(const json_t *req, hush_model_spec *spec, hush__fail *f)
{
    const json_t *arch = json_object_get(req, "architecture");
    const json_t *labels = json_object_get(req, "labels");
    hush_err err = {0};
    spec->classes = (uint32_t)json_array_size(labels);
    if (hush_model_kind_parse(json_string_value(json_object_get(arch, "kind")),
                              &spec->kind, &err) != 0) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_architecture", "%s", err.msg);
    }
    spec->hidden = (uint32_t)num(arch, "hidden", 0);
    for (size_t i = 0; i < json_array_size(labels); i++) {
        if (!json_is_string(json_array_get(labels, i))) {
            spec->classes = 0;
        }
        for (size_t j = 0; j < i && spec->classes != 0; j++) {
            if (json_equal(json_array_get(labels, i), json_array_get(labels, j))) {
                return hush__fail_set(
                    f, HUSH_EINVAL, "invalid_architecture",
                    "label \"%s\" appears twice: each class needs its own",
                    json_string_value(json_array_get(labels, i)));
            }
        }
    }
    if (hush_model_spec_check(spec, &err) != 0) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_architecture",
                              "%s (labels give the classes)", err.msg);
    }
    return 0;
}

/* Sampling: how many clients a round expects out of the population, how
 * many rounds, the least a round closes with, its deadline. */
static int spec_sampling(const json_t *req, hush__task *t, hush__fail *f)
{
    double expected = num(req, "expected_clients", NAN),
           population = num(req, "population", NAN);
    double rounds = num(req, "rounds", 100), min_clients = num(req, "min_clients", 1);
    double round_seconds = num(req, "round_seconds", 0);
    t->delta = num(req, "delta", 1e-5);
    if (!(expected >= 1 && expected <= 1e7 && expected == floor(expected)) ||
        !(population >= expected && population <= 1e10) ||
        !(rounds >= 1 && rounds <= 1e6 && rounds == floor(rounds)) ||
        !(min_clients >= 1 && min_clients <= population &&
          min_clients == floor(min_clients)) ||
        !(round_seconds >= 0 && round_seconds <= 1e7) ||
        !(t->delta >= 1e-300 && t->delta < 1)) {
        return hush__fail_set(
            f, HUSH_EINVAL, "invalid_task",
            "need expected_clients >= 1, population >= expected_clients, rounds >= 1, "
            "min_clients in [1, population], round_seconds >= 0, delta in (0, 1)");
    }
    t->expected = (uint32_t)expected;
    t->q = expected / population;
    t->max_rounds = (uint32_t)rounds;
    t->min_clients = (uint32_t)min_clients;
    t->round_seconds = (uint32_t)round_seconds;
    return 0;
}

/* Central privacy: a target epsilon (the noise multiplier follows from
 * it) or a noise multiplier; no privacy must be said ("dp": "none"),
 * never implied by a 0 or a missing number. */
static int spec_privacy(const json_t *req, hush__task *t, hush__fail *f)
{
    const json_t *dpv = json_object_get(req, "dp"),
                 *aggv = json_object_get(req, "aggregation");
    const char *dp = json_string_value(dpv), *agg = json_string_value(aggv);
    hush_err err = {0};
    if (dpv != NULL &&
        (dp == NULL || (strcmp(dp, "central") != 0 && strcmp(dp, "none") != 0 &&
                        strcmp(dp, "distributed") != 0))) {
        return hush__fail_set(
            f, HUSH_EINVAL, "invalid_privacy",
            "\"dp\" must be \"central\" (the default), \"distributed\" or \"none\"");
    }
    if (aggv != NULL &&
        (agg == NULL || (strcmp(agg, "plain") != 0 && strcmp(agg, "secagg") != 0))) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_task",
                              "\"aggregation\" must be \"plain\" (the default) or "
                              "\"secagg\"");
    }
    t->dp_none = dp != NULL && strcmp(dp, "none") == 0;
    t->distributed = dp != NULL && strcmp(dp, "distributed") == 0;
    if (t->distributed != (agg != NULL && strcmp(agg, "secagg") == 0)) {
        return hush__fail_set(
            f, HUSH_EINVAL, "invalid_privacy",
            "\"aggregation\": \"secagg\" goes with \"dp\": \"distributed\" (the devices "
            "add the noise, the collector sees only the sum), and only with it");
    }
    const json_t *te = json_object_get(req, "target_epsilon");
    const json_t *nm = json_object_get(req, "noise_multiplier");
    if (t->dp_none && (te != NULL || nm != NULL)) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_privacy",
                              "\"%s\" contradicts \"dp\": \"none\"",
                              te != NULL ? "target_epsilon" : "noise_multiplier");
    }
    t->target_eps = t->dp_none ? 0 : json_is_number(te) ? json_number_value(te) : NAN;
    if (!t->dp_none && !(t->target_eps >= HUSH_LDP_EPSILON_MIN && t->target_eps <= 1e4)) {
        return hush__fail_set(
            f, HUSH_EINVAL, "invalid_privacy",
            "\"target_epsilon\" must be a number in [%g, 1e4] (got %s); a task without "
            "central privacy says \"dp\": \"none\"",
            HUSH_LDP_EPSILON_MIN, te == NULL ? "nothing" : "another value");
    }
    t->z = 0;
    if (!t->dp_none && !t->distributed && nm == NULL &&
        hush_rdp_noise_for_epsilon(t->q, t->max_rounds, t->delta, t->target_eps, &t->z,
                                   &err) != 0) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_privacy", "%s", err.msg);
    }
    if (!t->dp_none && nm != NULL) {
        t->z = json_is_number(nm) ? json_number_value(nm) : NAN;
        if (!(t->z >= 0.01 && t->z <= 1e4)) {
            return hush__fail_set(
                f, HUSH_EINVAL, "invalid_privacy",
                "\"noise_multiplier\" must be a number in [0.01, 1e4]; a "
                "task without central privacy says \"dp\": \"none\"");
        }
    }
    t->local_noise = num(req, "local_noise_multiplier", 0);
    if (t->distributed &&
        (t->local_noise != 0 || json_object_get(req, "adaptive_clipping"))) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_privacy",
                              "distributed DP takes neither local noise nor adaptive "
                              "clipping (the collector sees no single update)");
    }
    const json_t *lj = json_object_get(req, "ditto_lambda");
    size_t nl = json_is_array(lj) ? json_array_size(lj) : 1;
    bool ok = t->local_noise >= 0 && t->local_noise <= 1e4 && nl >= 1 && nl <= 8;
    for (size_t i = 0; ok && lj != NULL && i < nl; i++) {
        const json_t *v = json_is_array(lj) ? json_array_get(lj, i) : lj;
        double l = json_is_number(v) ? json_number_value(v) : -1;
        ok = l >= 0 && l <= 1e4 &&
             (i == 0 || l > json_number_value(json_array_get(lj, i - 1)));
    }
    if (!ok) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_privacy",
                              "\"local_noise_multiplier\" must be a number in [0, 1e4] "
                              "and \"ditto_lambda\" one, or 1 to 8 increasing ones for "
                              "each device to choose from");
    }
    return 0;
}

/* Clipping: a fixed norm, or adaptive clipping with its own share of the
 * noise. */
static int spec_clipping(const json_t *req, hush__task *t, hush__fail *f)
{
    const json_t *ad = json_object_get(req, "adaptive_clipping");
    hush_err err = {0};
    t->adaptive = ad != NULL;
    t->clip = t->adaptive ? num(ad, "initial", 0.1) : num(req, "clip_norm", NAN);
    t->target_quantile = num(ad, "target_quantile", 0.5);
    t->clip_lr = num(ad, "learning_rate", 0.2);
    t->bit_noise = num(ad, "bit_noise", t->expected / 20.0);
    t->z_update = t->z;
    if (!(t->clip > 0 && t->clip < 1e9) ||
        (t->adaptive && (!(t->target_quantile > 0 && t->target_quantile < 1) ||
                         !(t->clip_lr > 0 && t->clip_lr < 10) ||
                         !(t->bit_noise >= 0 && t->bit_noise <= 1e5)))) {
        return hush__fail_set(
            f, HUSH_EINVAL, "invalid_clipping",
            "need a positive \"clip_norm\", or \"adaptive_clipping\" {initial > 0, "
            "target_quantile in (0, 1), learning_rate in (0, 10), bit_noise in [0, "
            "1e5]}");
    }
    if (t->adaptive && t->z > 0 &&
        hush_adaptive_noise_split(t->z, t->bit_noise, &t->z_update, &err) != 0) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_clipping", "%s", err.msg);
    }
    return 0;
}

/* The publication's template: everything but round, clip and weights.
 * Takes emb_json (consumed either way). */
static int spec_template(const json_t *req, hush__task *t, const hush_model_spec *spec,
                         json_t *emb_json, hush__fail *f)
{
    const json_t *local = json_object_get(req, "local");
    const char *pers = json_string_value(json_object_get(req, "personalization"));
    json_t *lambda_json = json_object_get(req, "ditto_lambda");
    json_t *lambda_default = json_real(0.1);
    lambda_json = lambda_json != NULL ? lambda_json : lambda_default;
    t->template = json_pack(
        "{s:s, s:I, s:s, s:{s:s, s:I, s:I, s:I}, s:O, s:o, s:b, s:f, "
        "s:{s:f, s:f, s:f}, s:s, s:O, s:f, s:{s:f}}",
        "model", t->id, "round", (json_int_t)1, "name", t->name, "architecture", "kind",
        hush_model_kind_name(spec->kind), "inputs", (json_int_t)spec->inputs, "classes",
        (json_int_t)spec->classes, "hidden", (json_int_t)spec->hidden, "labels",
        json_object_get(req, "labels"), "embedder", emb_json, "adaptive_clipping",
        t->adaptive, "sampling_rate", t->q, "local", "epochs", num(local, "epochs", 1),
        "batch", num(local, "batch", 16), "lr", num(local, "lr", 0.1), "personalization",
        pers != NULL ? pers : "none", "ditto_lambda", lambda_json,
        "local_noise_multiplier", num(req, "local_noise_multiplier", 0), "budget",
        "updates_per_device_per_day",
        num(json_object_get(req, "budget"), "updates_per_device_per_day", 1));
    json_decref(lambda_default);
    t->fedper = pers != NULL && strcmp(pers, "fedper") == 0;
    return t->template != NULL
               ? 0
               : hush__fail_set(f, HUSH_EINVAL, "invalid_task",
                                "\"labels\" must be strings and \"local\" numbers");
}

/* The initial model, the server optimizer and the round's aggregator; an
 * update of the model must fit the request cap, or no device could ever
 * send one. */
static int spec_model(hush_collector *h, const json_t *req, hush__task *t,
                      const hush_model_spec *spec, hush__fail *f)
{
    hush_err err = {0};
    uint64_t seed = (uint64_t)num(req, "seed", 1);
    if (hush_model_new(spec, seed, &t->global, &err) != 0) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_architecture", "%s", err.msg);
    }
    if (t->fedper && hush_model_head_offset(t->global) == 0) {
        return hush__fail_set(
            f, HUSH_EINVAL, "invalid_architecture",
            "personalization \"fedper\" trains the model's body federatedly and keeps "
            "its "
            "head on the device: it needs an \"mlp\" (a %s model is all head)",
            hush_model_kind_name(spec->kind));
    }
    t->update_size =
        t->fedper ? hush_model_head_offset(t->global) : hush_model_size(t->global);
    /* its floats in base64 and about a hundred bytes of fields */
    size_t update_bytes = (t->update_size * 4 + 2) / 3 * 4 + 512;
    if (update_bytes > h->cfg.max_body_bytes) {
        return hush__fail_set(
            f, HUSH_EINVAL, "too_large_for_updates",
            "an update of this model is %zu floats, about %zu bytes: more than the "
            "collector takes in one request (--max-body-bytes %zu)",
            t->update_size, update_bytes, h->cfg.max_body_bytes);
    }
    const char *so = json_string_value(json_object_get(req, "server_optimizer"));
    hush_server_opt_kind sk = so == NULL || strcmp(so, "fedavg") == 0 ? HUSH_SERVER_FEDAVG
                              : strcmp(so, "fedadam") == 0 ? HUSH_SERVER_FEDADAM
                                                           : (hush_server_opt_kind)0;
    double slr = num(req, "server_lr", sk == HUSH_SERVER_FEDADAM ? 0.01 : 1.0);
    if (hush_server_opt_new(sk, t->update_size, slr, &t->opt, &err) != 0) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_task", "%s", err.msg);
    }
    t->round = 1;
    if (make_aggregator(t, &err) != 0) {
        return hush__fail_set(f, err.code == HUSH_ERANGE ? HUSH_EINVAL : HUSH_EINTERNAL,
                              err.code == HUSH_ERANGE ? "invalid_privacy" : "internal",
                              "%s", err.msg);
    }
    return 0;
}

/* Secure aggregation with distributed DP: the plan for this update size
 * (the noise multiplier solved for the target epsilon) and the first
 * attempt, whose plan the publication carries. */
static int spec_secagg(hush_collector *h, const json_t *req, hush__task *t, hush__fail *f)
{
    if (!t->distributed) {
        return json_object_get(req, "secure_aggregation") == NULL
                   ? 0
                   : hush__fail_set(f, HUSH_EINVAL, "invalid_secagg",
                                    "\"secure_aggregation\" needs \"aggregation\": "
                                    "\"secagg\"");
    }
    hush__sa_spec sp = {0};
    hush_err err = {0};
    int rc = hush__sa_spec_read(
        req, (uint32_t)t->update_size, t->clip, t->max_rounds, t->delta,
        json_object_get(req, "noise_multiplier") != NULL ? 0 : t->target_eps, t->z, &sp,
        f);
    if (rc != 0) {
        return rc;
    }
    /* a masked vector (the padded length, 4 bytes a value, in base64) in one
     * request */
    size_t padded = 1;
    while (padded < t->update_size) {
        padded *= 2;
    }
    if ((padded * 4 + 2) / 3 * 4 + 512 > h->cfg.max_body_bytes) {
        return hush__fail_set(f, HUSH_EINVAL, "too_large_for_updates",
                              "a masked update of this model is %zu bytes: more than "
                              "--max-body-bytes %zu",
                              (padded * 4 + 2) / 3 * 4 + 512, h->cfg.max_body_bytes);
    }
    t->z = t->z_update = sp.z;
    if ((rc = hush__task_sa_new(&sp, (uint32_t)t->update_size, t->clip, &t->sa, f)) !=
        0) {
        return rc;
    }
    if (h->cfg.has_test_noise_seed) { /* the rotations replay too */
        uint8_t msg[8 + HUSH_MODEL_ID_MAX], key[32];
        hush_store_le64(msg, h->cfg.test_noise_seed);
        memcpy(msg + 8, t->id, strlen(t->id));
        crypto_generichash(key, sizeof key, msg, 8 + strlen(t->id), NULL, 0);
        hush__task_sa_seed(t->sa, key);
    }
    if (hush__task_sa_open(t->sa, t->round, true, hush__now(), &err) != 0) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_secagg", "%s", err.msg);
    }
    return 0;
}

/* "upload": lattice integers by default where the server keeps an update
 * on its lattice (central DP on plain aggregation without local noise),
 * float32 otherwise or when asked; a shift that would tighten the clip by
 * more than half is refused. */
static int spec_upload(const json_t *req, hush__task *t, hush__fail *f)
{
    const json_t *up = json_object_get(req, "upload");
    bool can = t->z_update > 0 && t->local_noise == 0 && t->sa == NULL;
    const char *enc = json_string_value(json_object_get(up, "encoding"));
    const json_t *shift = json_object_get(up, "shift");
    t->lattice = can;
    t->lattice_shift = 0;
    if (up == NULL) {
        return 0;
    }
    if (!json_is_object(up) || enc == NULL ||
        (strcmp(enc, "float32") == 0 && json_object_size(up) != 1) ||
        (strcmp(enc, "lattice") == 0 &&
         json_object_size(up) != (shift != NULL ? 2u : 1u)) ||
        (strcmp(enc, "float32") != 0 && strcmp(enc, "lattice") != 0) ||
        (shift != NULL && (!json_is_integer(shift) || json_integer_value(shift) < 0 ||
                           json_integer_value(shift) > HUSH_LATTICE_SHIFT_MAX))) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_task",
                              "\"upload\" is {\"encoding\": \"float32\"} or "
                              "{\"encoding\": \"lattice\", \"shift\": 0 to %u}",
                              HUSH_LATTICE_SHIFT_MAX);
    }
    t->lattice = strcmp(enc, "lattice") == 0;
    if (t->lattice && !can) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_task",
                              "lattice uploads need central DP (a noise multiplier) on "
                              "plain aggregation without local noise");
    }
    t->lattice_shift = shift != NULL ? (uint32_t)json_integer_value(shift) : 0;
    double step = hush_fedavg_lattice_step(t->z_update, 1.0, t->update_size) *
                  (double)(1u << t->lattice_shift) * sqrt((double)t->update_size);
    if (t->lattice && step > 0.5) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_task",
                              "a lattice shift of %u would tighten the clip by %.0f%%: "
                              "use a smaller one",
                              t->lattice_shift, 100 * step);
    }
    return 0;
}

/* A task from its spec (a creation request, or the stored one at start),
 * checked part by part in the order the API documents. */
static int task_from_spec(hush_collector *h, const json_t *req, hush__task **out,
                          hush__fail *f)
{
    hush__task *t = NULL;
    json_t *emb_json = NULL;
    hush_model_spec spec = {0};
    hush_err err = {0};
    int rc = spec_fields(req, f);
    if (rc == 0) {
        rc = task_new(req, &t, f);
    }
    if (rc == 0) {
        rc = spec_embedder(h, req, &emb_json, &spec.inputs, f);
    }
    if (rc == 0 && (rc = spec_architecture(req, &spec, f)) == 0 &&
        (rc = spec_sampling(req, t, f)) == 0 && (rc = spec_privacy(req, t, f)) == 0 &&
        (rc = spec_clipping(req, t, f)) == 0) {
        rc = spec_template(req, t, &spec, emb_json, f);
        emb_json = NULL; /* consumed */
    }
    if (rc == 0) {
        rc = spec_model(h, req, t, &spec, f);
    }
    if (rc == 0) {
        rc = spec_secagg(h, req, t, f);
    }
    if (rc == 0) {
        rc = spec_upload(req, t, f);
    }
    if (rc == 0) {
        t->spec = hush_json_dumps(req, JSON_COMPACT | JSON_REAL_PRECISION(17));
        rc = t->spec != NULL
                 ? 0
                 : hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
    }
    /* the template must give a valid publication */
    if (rc == 0 && publish(h, t, &err) != 0) {
        rc = hush__fail_set(f, HUSH_EINVAL, "invalid_task", "%s", err.msg);
    }
    json_decref(emb_json);
    if (rc != 0) {
        task_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

static int install(hush_collector *h, hush__task *t, hush_err *err)
{
    pthread_rwlock_wrlock(&h->campaigns_lock);
    hush__task **grown = hush_realloc(h->tasks, (h->n_tasks + 1) * sizeof *grown);
    if (grown == NULL) {
        pthread_rwlock_unlock(&h->campaigns_lock);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory installing a task");
    }
    h->tasks = grown;
    h->tasks[h->n_tasks++] = t;
    pthread_rwlock_unlock(&h->campaigns_lock);
    return 0;
}

static json_t *task_summary(const hush__task *t)
{
    double order;
    double eps = epsilon_after(t, t->done, &order);
    return json_pack("{s:s, s:s, s:I, s:I, s:s, s:I, s:I, s:f, s:f, s:f}", "id", t->id,
                     "name", t->name, "round", (json_int_t)t->round, "rounds_completed",
                     (json_int_t)t->done, "state", state_name(t->state), "parameters",
                     (json_int_t)hush_model_size(t->global), "update_size",
                     (json_int_t)t->update_size, "noise_multiplier", t->z,
                     "sampling_rate", t->q, "epsilon_spent", isfinite(eps) ? eps : -1.0);
}

int hush__task_create(hush_collector *h, const json_t *req, json_t **out, hush__fail *f)
{
    *out = NULL;
    const char *id = json_string_value(json_object_get(req, "id"));
    if (id != NULL && hush__task_find(h, id) != NULL) {
        return hush__fail_set(f, HUSH_EEXIST, "exists",
                              "model task \"%s\" already exists", id);
    }
    hush__task *t = NULL;
    int rc = task_from_spec(h, req, &t, f);
    if (rc != 0) {
        return rc;
    }
    if (!round_affordable(t)) {
        double order;
        rc = hush__fail_set(f, HUSH_EINVAL, "invalid_privacy",
                            "one round already spends epsilon %.4g > target %.4g: raise "
                            "the noise multiplier",
                            epsilon_after(t, 1, &order), t->target_eps);
        task_free(t);
        return rc;
    }
    t->created_at = hush__wall();
    t->opened = hush__now();
    hush_err err = {0};
    rc = task_save(h, t, true, NULL, &err);
    if (rc == 0) {
        rc = install(h, t, &err);
    }
    if (rc != 0) {
        rc = hush__fail_from(f, &err, rc == HUSH_EEXIST ? "exists" : "unavailable");
        task_free(t);
        return rc;
    }
    double order;
    json_t *doc = task_summary(t);
    json_object_set_new(
        doc, "epsilon_after_all_rounds",
        json_real(t->z > 0 ? epsilon_after(t, t->max_rounds, &order) : -1.0));
    char url[128];
    snprintf(url, sizeof url, "/v1/models/%s", t->id);
    json_object_set_new(doc, "url", json_string(url));
    *out = doc;
    return doc != NULL ? 0 : hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
}

/* ---- rounds ---- */

/* The noise of the open round: the system's randomness, or with
 * --test-noise-seed a stream keyed by (seed, task, round), so that a test
 * or benchmark run can be replayed exactly. */
static int noise_rng(const hush_collector *h, const hush__task *t, hush_rng **out)
{
    if (!h->cfg.has_test_noise_seed) {
        return hush_rng_new_system(out);
    }
    uint8_t msg[8 + HUSH_MODEL_ID_MAX + 1 + 4], seed[HUSH_RNG_SEED_BYTES];
    size_t idl = strlen(t->id);
    hush_store_le64(msg, h->cfg.test_noise_seed);
    memcpy(msg + 8, t->id, idl);
    msg[8 + idl] = 0;
    hush_store_le32(msg + 9 + idl, t->round);
    crypto_generichash(seed, sizeof seed, msg, 13 + idl, NULL, 0);
    int rc = hush_rng_new_seeded(seed, out);
    sodium_memzero(seed, sizeof seed);
    return rc;
}

/* What a round close may have to undo: the model and the optimizer state
 * as they were. */
typedef struct task_snapshot {
    hush_model *model;
    float *opt;
    size_t opt_n;
    double clip;
} task_snapshot;

static int snapshot_take(const hush__task *t, task_snapshot *sn, hush_err *err)
{
    const float *opt_state = NULL;
    sn->clip = t->clip;
    sn->opt_n = hush_server_opt_state(t->opt, &opt_state);
    sn->opt = sn->opt_n > 0 ? hush_malloc(sn->opt_n * sizeof *sn->opt) : NULL;
    if (sn->opt_n > 0 && sn->opt == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory closing a round");
    }
    if (sn->opt_n > 0) {
        memcpy(sn->opt, opt_state, sn->opt_n * sizeof *sn->opt);
    }
    return hush_model_clone(t->global, &sn->model, err);
}

/* Back to the round as it was (its updates are still stored; the
 * accumulator is rebuilt from them). */
static void snapshot_restore(hush_collector *h, hush__task *t, const task_snapshot *sn)
{
    memcpy(hush_model_params(t->global), hush_model_cparams(sn->model),
           hush_model_size(sn->model) * sizeof(float));
    if (sn->opt_n > 0) {
        int orc = hush_server_opt_restore(t->opt, sn->opt, sn->opt_n, NULL);
        (void)orc; /* the size it was saved with: cannot fail */
    }
    t->clip = sn->clip;
    t->done--;
    t->round--;
    t->state = TASK_RUNNING;
    (void)make_aggregator(t, NULL);
    (void)task_replay(h, t, NULL);
    if (t->sa != NULL) { /* the released sum is lost: the round runs again */
        (void)hush__task_sa_open(t->sa, t->round, true, hush__now(), NULL);
    }
    (void)publish(h, t, NULL);
}

/* The averaged, noised update applied; the clip adapted; the next round
 * opened (or the task finished or out of budget), published and stored. */
static int advance(hush_collector *h, hush__task *t, const float *mean, double share,
                   uint32_t n, double agg_ms, hush_err *err)
{
    double clip_before = t->clip;
    hush_server_opt_step(t->opt, hush_model_params(t->global), mean);
    if (t->adaptive) {
        t->clip = hush_adaptive_clip_next(t->clip, share, t->target_quantile, t->clip_lr);
    }
    t->done++;
    t->round++;
    if (t->done >= t->max_rounds) {
        t->state = TASK_FINISHED;
    } else if (!round_affordable(t)) {
        t->state = TASK_EXHAUSTED;
    }
    double order;
    hush__model_round rec = {.round = t->round - 1,
                             .updates = n,
                             .clip = clip_before,
                             .epsilon = epsilon_after(t, t->done, &order),
                             .aggregate_ms = agg_ms};
    int rc = make_aggregator(t, err);
    if (rc == 0 && t->sa != NULL && t->state == TASK_RUNNING) {
        rc = hush__task_sa_open(t->sa, t->round, true, hush__now(), err);
    }
    if (rc == 0) {
        rc = publish(h, t, err);
    }
    return rc != 0 ? rc : task_save(h, t, false, &rec, err);
}

/* A securely aggregated round's sum (its mean over `n` survivors) applied:
 * the next round.  Called with t->lock held; on failure the model is as
 * it was and the round runs again. */
static int apply_secagg(hush_collector *h, hush__task *t, const float *mean, uint32_t n,
                        double t0, hush_err *err)
{
    task_snapshot sn = {0};
    int rc = snapshot_take(t, &sn, err);
    if (rc == 0 &&
        (rc = advance(h, t, mean, NAN, n, (hush__now() - t0) * 1e3, err)) != 0) {
        snapshot_restore(h, t, &sn);
    }
    t->opened = hush__now();
    hush_free(sn.opt);
    hush_model_free(sn.model);
    return rc;
}

/* Moves a secure-aggregation task's attempt on (t->lock held): a failed
 * attempt logged and the next one opened; a released sum applied. */
static void settle_secagg(hush_collector *h, hush__task *t)
{
    if (t->sa == NULL || t->state != TASK_RUNNING) {
        return;
    }
    double t0 = hush__now();
    float *mean = NULL; /* made only when a sum is released */
    const char *failed = NULL;
    uint32_t n = 0;
    hush_err err = {0};
    int rc = hush__task_sa_settle(t->sa, t0, &mean, &n, &failed, &err);
    if (failed != NULL) {
        __atomic_add_fetch(rc == 2 ? &h->metrics.secagg_given_up
                                   : &h->metrics.secagg_failed,
                           1, __ATOMIC_RELAXED);
        hush__log(h, "warn", "model %s: secure aggregation failed, nothing released: %s",
                  t->id, failed);
    }
    uint32_t round = t->round;
    if (rc == 2) { /* given up: the next round, the same model */
        t->round++;
        t->opened = hush__now();
        rc = hush__task_sa_open(t->sa, t->round, true, t->opened, &err);
        if (rc == 0 && (rc = publish(h, t, &err)) == 0) {
            rc = task_save(h, t, false, NULL, &err);
        }
        hush__log(h, "warn", "model %s: round %u given up after failed attempts", t->id,
                  round);
    }
    if (rc == 1) {
        __atomic_add_fetch(&h->metrics.secagg_released, 1, __ATOMIC_RELAXED);
    }
    if (rc == 1 && (rc = apply_secagg(h, t, mean, n, t0, &err)) == 0) {
        hush__log(h, "info", "model %s: round %u closed with the sum of %u devices",
                  t->id, round, n);
    }
    if (rc != 0) {
        hush__log(h, "error", "model %s round %u: %s", t->id, round, err.msg);
    }
    hush_free(mean);
}

/* Closes the open round: noise, average, optimizer, clip; the next round.
 * Called with t->lock held; on failure the round is as it was. */
static int close_round(hush_collector *h, hush__task *t, hush_err *err)
{
    double t0 = hush__now();
    uint32_t n = hush_fedavg_count(t->agg);
    float *mean = hush_malloc(t->update_size * sizeof *mean);
    hush_rng *rng = NULL;
    task_snapshot sn = {0};
    int rc = mean == NULL || noise_rng(h, t, &rng) != 0
                 ? hush_err_set(err, HUSH_ENOMEM, "out of memory closing a round")
                 : snapshot_take(t, &sn, err);
    double share = NAN;
    if (rc == 0 && (rc = hush_fedavg_finish(t->agg, rng, mean, &share, err)) == 0) {
        rc = advance(h, t, mean, share, n, (hush__now() - t0) * 1e3, err);
        if (rc != 0) {
            snapshot_restore(h, t, &sn);
        } else {
            t->opened = hush__now();
        }
    }
    hush_free(sn.opt);
    hush_model_free(sn.model);
    hush_free(mean);
    hush_rng_free(rng);
    return rc;
}

/* Lattice integers as the floats the store keeps (k 2^shift gamma; the
 * aggregator takes the integers themselves): refused where the task has no
 * lattice.  A restart replays the floats, which truncate back to k 2^shift
 * or one step nearer zero: the replayed sum can differ by that, never in
 * norm upward. */
static int lattice_floats(const hush__task *t, hush_model_update *u, double *norm,
                          hush__fail *f)
{
    if (!t->lattice) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_update",
                              "task %s takes float32 updates (its publication says so)",
                              t->id);
    }
    double step = hush_fedavg_lattice_step(t->z_update, norm_bound(t), t->update_size) *
                  (double)(1u << u->shift);
    u->update = hush_malloc(u->n * sizeof *u->update + 1);
    if (u->update == NULL) {
        return hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
    }
    double norm2 = 0; /* from the integers, as the aggregator checks it */
    for (size_t i = 0; i < u->n; i++) {
        double v = (double)u->lattice[i] * step;
        norm2 += v * v;
        u->update[i] = (float)v;
    }
    *norm = sqrt(norm2);
    return 0;
}

int hush__task_update(hush_collector *h, hush__task *t, const char *body, size_t len,
                      json_t **out, hush__fail *f)
{
    hush_model_update u;
    hush_err err = {0};
    *out = NULL;
    pthread_mutex_lock(&t->lock);
    if (hush_model_update_parse(body, len, t->update_size, &u, &err) != 0) {
        pthread_mutex_unlock(&t->lock);
        return hush__fail_from(f, &err, "invalid_update");
    }
    if (strcmp(u.model, t->id) != 0) {
        hush__fail_set(f, HUSH_EINVAL, "invalid_update", "the update names model \"%s\"",
                       u.model);
        goto out;
    }
    if (t->sa != NULL) {
        hush__fail_set(f, HUSH_ESTATE, "secagg_only",
                       "task %s takes updates only through secure aggregation "
                       "(/v1/models/%s/secagg)",
                       t->id, t->id);
        goto out;
    }
    if (t->state != TASK_RUNNING) {
        hush__fail_set(f, HUSH_ESTATE, state_name(t->state),
                       "task %s is %s: no more rounds", t->id, state_name(t->state));
        goto out;
    }
    if (u.round != t->round) {
        hush__fail_set(f, HUSH_ESTATE,
                       u.round < t->round ? "round_closed" : "unknown_round",
                       "the update is for round %u; round %u is open", u.round, t->round);
        goto out;
    }
    double norm = 0;
    if (u.lattice != NULL && lattice_floats(t, &u, &norm, f) != 0) {
        goto out;
    }
    /* checked before anything is stored */
    norm = u.lattice != NULL ? norm : hush_l2_norm(u.update, u.n);
    if (!(norm <= norm_bound(t) * (1 + 1e-6))) {
        hush__fail_set(f, HUSH_EINVAL, "invalid_update",
                       "the update's L2 norm %.6g exceeds the round's bound %.6g", norm,
                       norm_bound(t));
        goto out;
    }
    bool duplicate = false;
    int rc = h->store->ops->task_update(h->store, t->id, &u, &duplicate, &err);
    if (rc != 0) {
        hush__fail_set(f, HUSH_EIO, "unavailable", "%s", err.msg);
        goto out;
    }
    if (!duplicate &&
        (u.lattice != NULL
             ? hush_fedavg_add_lattice(t->agg, u.lattice, u.shift, u.unclipped, &err)
             : hush_fedavg_add(t->agg, u.update, u.unclipped, &err)) != 0) {
        /* cannot happen after the checks above; the stored row would be
         * replayed at the next start, so say so */
        hush__fail_set(f, HUSH_EINTERNAL, "internal", "%s", err.msg);
        goto out;
    }
    /* the round stays open: every sampled device's update counts until the
     * deadline or an admin closes it */
    *out = json_pack("{s:b, s:b, s:I}", "accepted", !duplicate, "duplicate", duplicate,
                     "round", (json_int_t)u.round);
    if (*out == NULL) {
        hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
    }
out:
    pthread_mutex_unlock(&t->lock);
    hush_free(u.update);
    hush_free(u.lattice);
    return *out != NULL ? 0 : f->err.code != 0 ? f->err.code : HUSH_EINTERNAL;
}

int hush__task_close_now(hush_collector *h, hush__task *t, json_t **out, hush__fail *f)
{
    *out = NULL;
    pthread_mutex_lock(&t->lock);
    hush_err err = {0};
    uint32_t n = hush_fedavg_count(t->agg), round = t->round;
    if (t->state != TASK_RUNNING) {
        hush__fail_set(f, HUSH_ESTATE, state_name(t->state), "task %s is %s", t->id,
                       state_name(t->state));
    } else if (t->sa != NULL) {
        hush__fail_set(f, HUSH_ESTATE, "secagg_only",
                       "a secure-aggregation round closes when its protocol ends "
                       "(GET /v1/models/%s/secagg)",
                       t->id);
    } else if (n == 0) {
        hush__fail_set(f, HUSH_ESTATE, "no_updates", "round %u of %s has no updates yet",
                       round, t->id);
    } else if (n < t->min_clients) {
        hush__fail_set(
            f, HUSH_ESTATE, "too_few_updates",
            "round %u of %s has %u update(s); the task closes a round with at least "
            "min_clients = %u",
            round, t->id, n, t->min_clients);
    } else if (close_round(h, t, &err) != 0) {
        hush__fail_set(f, HUSH_EIO, "unavailable", "round %u stays open: %s", round,
                       err.msg);
    } else {
        *out = json_pack("{s:s, s:I, s:I, s:I, s:s}", "model", t->id, "closed",
                         (json_int_t)round, "updates", (json_int_t)n, "round",
                         (json_int_t)t->round, "state", state_name(t->state));
        if (*out == NULL) {
            hush__fail_set(f, HUSH_ENOMEM, "internal", "round %u closed; out of memory",
                           round);
        }
    }
    pthread_mutex_unlock(&t->lock);
    return *out != NULL ? 0 : f->err.code != 0 ? f->err.code : HUSH_EINTERNAL;
}

void hush__tasks_tick(hush_collector *h)
{
    pthread_rwlock_rdlock(&h->campaigns_lock);
    size_t n = h->n_tasks;
    pthread_rwlock_unlock(&h->campaigns_lock);
    for (size_t i = 0; i < n; i++) {
        pthread_rwlock_rdlock(&h->campaigns_lock);
        hush__task *t = h->tasks[i];
        pthread_rwlock_unlock(&h->campaigns_lock);
        pthread_mutex_lock(&t->lock);
        settle_secagg(h, t);
        if (t->sa == NULL && t->state == TASK_RUNNING && t->round_seconds > 0 &&
            hush__now() - t->opened >= t->round_seconds &&
            hush_fedavg_count(t->agg) >= t->min_clients) {
            hush_err err = {0};
            (void)close_round(h, t, &err);
        }
        pthread_mutex_unlock(&t->lock);
    }
}

/* Whether the task runs secure aggregation now (t->lock held). */
static int secagg_open(hush__task *t, hush__fail *f)
{
    if (t->sa == NULL) {
        return hush__fail_set(f, HUSH_ENOTFOUND, "not_secagg",
                              "task %s aggregates plain updates (POST "
                              "/v1/models/%s/updates)",
                              t->id, t->id);
    }
    if (t->state != TASK_RUNNING) {
        return hush__fail_set(f, HUSH_ESTATE, state_name(t->state),
                              "task %s is %s: no more rounds", t->id,
                              state_name(t->state));
    }
    return 0;
}

int hush__task_secagg_post(hush_collector *h, hush__task *t, const char *session,
                           const char *token, const char *body, size_t len, json_t **out,
                           hush__fail *f)
{
    *out = NULL;
    pthread_mutex_lock(&t->lock);
    int rc = secagg_open(t, f);
    if (rc == 0) {
        rc = hush__task_sa_post(t->sa, session, token, body, len, hush__now(), out, f);
        settle_secagg(h, t); /* it may have been the last document a stage waited for */
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

int hush__task_secagg_get(hush_collector *h, hush__task *t, const char *session,
                          const char *index, char **body, json_t **status, hush__fail *f)
{
    *body = NULL;
    *status = NULL;
    pthread_mutex_lock(&t->lock);
    settle_secagg(h, t);
    int rc = secagg_open(t, f);
    char *end = NULL;
    unsigned long i = index != NULL ? strtoul(index, &end, 10) : 0;
    if (rc == 0 && session == NULL && index == NULL) {
        *status = hush__task_sa_status(t->sa, hush__now());
        rc = *status != NULL
                 ? 0
                 : hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
    } else if (rc == 0 && (index == NULL || session == NULL || end == index ||
                           *end != '\0' || i >= HUSH_SECAGG_MAX_DEVICES)) {
        rc = hush__fail_set(
            f, HUSH_EINVAL, "invalid_query",
            "a stage document needs ?session=S&index=I (the keys' answer)");
    } else if (rc == 0) {
        rc = hush__task_sa_get(t->sa, session, (uint32_t)i, hush__now(), body, f);
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

char *hush__task_publication(hush__task *t, char **signature, size_t *len)
{
    pthread_mutex_lock(&t->lock);
    size_t n = strlen(t->pub_body);
    char *body = hush_malloc(n + 1);
    *signature = hush_strdup(t->signature);
    if (body != NULL) {
        memcpy(body, t->pub_body, n + 1);
    }
    pthread_mutex_unlock(&t->lock);
    *len = n;
    return body;
}

/* The privacy document of a secure-aggregation task: distributed DP. */
static void privacy_secagg(const hush__task *t, json_t *doc)
{
    uint32_t p = t->done;
    double eps = epsilon_after(t, p, &(double){0});
    json_object_set_new(doc, "dp", json_string("distributed"));
    json_object_set_new(doc, "aggregation", json_string("secagg"));
    json_object_set_new(doc, "accountant",
                        json_string("distributed-discrete-gaussian (KLS21), per "
                                    "participation, no amplification"));
    json_object_set_new(doc, "epsilon", json_real(eps));
    json_object_set_new(doc, "epsilon_at_most",
                        json_real(epsilon_after(t, UINT32_MAX, &(double){0})));
    json_object_set_new(
        doc, "guarantee",
        json_string("distributed (epsilon, delta)-DP per device over at most "
                    "max_participations rounds, which each device enforces: the "
                    "collector sees only sums of at least min_devices devices' noised "
                    "updates, as long as no more than the dishonest fraction of the "
                    "devices in a round are its own"));
    json_object_set_new(doc, "sampling",
                        json_string("none counted: the collector sees who takes part"));
    hush__task_sa_privacy(t->sa, doc);
}

json_t *hush__task_privacy(hush__task *t)
{
    pthread_mutex_lock(&t->lock);
    double order = NAN;
    double eps = epsilon_after(t, t->done, &order);
    json_t *doc =
        json_pack("{s:s, s:I, s:s, s:s, s:f, s:f, s:I, s:f, s:f, s:f}", "model", t->id,
                  "rounds_completed", (json_int_t)t->done, "state", state_name(t->state),
                  "accountant", "rdp-sampled-gaussian", "noise_multiplier", t->z,
                  "sampling_rate", t->q, "max_rounds", (json_int_t)t->max_rounds, "delta",
                  t->delta, "target_epsilon", t->target_eps, "clip_norm", t->clip);
    if (doc != NULL && t->sa != NULL) {
        privacy_secagg(t, doc);
    } else if (doc != NULL) {
        json_object_set_new(doc, "dp", json_string(t->dp_none ? "none" : "central"));
        json_object_set_new(doc, "epsilon", t->z > 0 ? json_real(eps) : json_null());
        json_object_set_new(doc, "best_order",
                            isnan(order) ? json_null() : json_real(order));
        json_object_set_new(
            doc, "guarantee",
            json_string(t->z > 0 ? "central (epsilon, delta)-DP, user level"
                                 : "none: the task says \"dp\": \"none\" and the server "
                                   "adds no noise"));
        /* what the accountant's figure is made of, so it can be checked */
        json_object_set_new(doc, "sampling",
                            json_string("poisson: each device decides once per round, "
                                        "with probability sampling_rate"));
        json_object_set_new(doc, "update_noise_multiplier", json_real(t->z_update));
        json_object_set_new(doc, "adaptive_clipping", json_boolean(t->adaptive));
        if (t->adaptive && t->z > 0) {
            /* the unclipped count: bits counted as b - 1/2 (sensitivity
             * 1/2), noise of std count_noise_std; with the update's noise
             * it composes to one Gaussian of multiplier noise_multiplier:
             * z^-2 = z_update^-2 + (2 count_noise_std)^-2 */
            json_object_set_new(doc, "count_noise_std", json_real(t->bit_noise));
        }
        json_object_set_new(
            doc, "lattice_rounding_bound",
            json_real(hush_fedavg_rounding_bound(t->z_update, t->update_size)));
        if (t->local_noise > 0) {
            json_object_set_new(doc, "local_noise_multiplier", json_real(t->local_noise));
        }
    }
    pthread_mutex_unlock(&t->lock);
    return doc;
}

json_t *hush__tasks_list(hush_collector *h)
{
    json_t *arr = json_array();
    pthread_rwlock_rdlock(&h->campaigns_lock);
    for (size_t i = 0; arr != NULL && i < h->n_tasks; i++) {
        hush__task *t = h->tasks[i];
        pthread_mutex_lock(&t->lock);
        json_array_append_new(arr, task_summary(t));
        pthread_mutex_unlock(&t->lock);
    }
    pthread_rwlock_unlock(&h->campaigns_lock);
    return json_pack("{s:o}", "models", arr != NULL ? arr : json_array());
}

/* ---- restart ---- */

static int replay_one(void *ctx, const void *update, size_t len, bool unclipped,
                      hush_err *err);

/* The open round's stored updates added into its fresh accumulator. */
static int task_replay(hush_collector *h, hush__task *t, hush_err *err)
{
    return h->store->ops->task_updates_each(h->store, t->id, t->round, replay_one, t,
                                            err);
}

/* Saves a task's state (and a closed round's record) in the store. */
static int task_save(hush_collector *h, const hush__task *t, bool fresh,
                     hush__model_round *closed, hush_err *err)
{
    hush__task_row row = {.id = t->id,
                          .name = t->name,
                          .spec = t->spec,
                          .created_at = t->created_at,
                          .round = t->round,
                          .done = t->done,
                          .state = t->state,
                          .clip = t->clip};
    uint8_t *params = NULL;
    int rc = hush_model_serialize(t->global, &params, &row.params_len, err);
    if (rc != 0) {
        return rc;
    }
    row.params = params;
    row.opt_n = hush_server_opt_state(t->opt, &row.opt);
    if (closed != NULL) {
        closed->closed_at = hush__wall();
    }
    rc = h->store->ops->task_save(h->store, &row, fresh, closed, err);
    hush_free(params);
    return rc;
}

/* A stored task brought back (at start). */
static int task_restore(void *ctx, const hush__task_row *row, hush_err *err)
{
    hush_collector *h = ctx;
    const char *spec_text = row->spec;
    const void *params = row->params, *opt = row->opt;
    size_t params_len = row->params_len, opt_len = row->opt_n * sizeof(float);
    int64_t created_at = row->created_at;
    uint32_t round = row->round, done = row->done;
    int state = row->state;
    double clip = row->clip;
    json_t *req = json_loads(spec_text, 0, NULL);
    hush__fail f = {0};
    hush__task *t = NULL;
    if (req == NULL || task_from_spec(h, req, &t, &f) != 0) {
        json_decref(req);
        return hush_err_set(err, HUSH_ECORRUPT, "stored model task: %s",
                            f.err.msg[0] ? f.err.msg : "not JSON");
    }
    json_decref(req);
    hush_model *m = NULL;
    int rc = hush_model_deserialize(params, params_len, &m, err);
    if (rc == 0 && (hush_model_size(m) != hush_model_size(t->global))) {
        rc =
            hush_err_set(err, HUSH_ECORRUPT, "stored model %s has the wrong size", t->id);
    }
    if (rc == 0 && opt_len % sizeof(float) != 0) {
        rc = hush_err_set(err, HUSH_ECORRUPT, "stored optimizer state of %s is damaged",
                          t->id);
    }
    if (rc == 0 && opt_len > 0) {
        rc = hush_server_opt_restore(t->opt, opt, opt_len / sizeof(float), err);
    }
    if (rc != 0) {
        hush_model_free(m);
        task_free(t);
        return rc;
    }
    hush_model_free(t->global);
    t->global = m;
    t->created_at = created_at;
    t->round = round;
    t->done = done;
    t->state = state;
    t->clip = clip;
    t->opened = hush__now();
    /* an attempt in flight at the stop is lost (nothing of it was stored):
     * the round starts again with a fresh one */
    if (t->sa != NULL && state == TASK_RUNNING &&
        (rc = hush__task_sa_open(t->sa, round, true, t->opened, err)) != 0) {
        task_free(t);
        return rc;
    }
    if ((rc = make_aggregator(t, err)) != 0 || (rc = publish(h, t, err)) != 0 ||
        (rc = task_replay(h, t, err)) != 0 || (rc = install(h, t, err)) != 0) {
        task_free(t);
        return rc;
    }
    return 0;
}

int hush__tasks_load(hush_collector *h, hush_err *err)
{
    return h->store->ops->tasks_each(h->store, task_restore, h, err);
}

static int replay_one(void *ctx, const void *update, size_t len, bool unclipped,
                      hush_err *err)
{
    hush__task *t = ctx;
    if (len != t->update_size * sizeof(float)) {
        return hush_err_set(err, HUSH_ECORRUPT,
                            "a stored update of %s has the wrong size", t->id);
    }
    float *u = hush_malloc(len);
    if (u == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory replaying updates");
    }
    memcpy(u, update, len);
    int rc = hush_fedavg_add(t->agg, u, unclipped, err);
    hush_free(u);
    return rc;
}

/* One closed round of a task as its document, appended to the array. */
static int model_round_row(void *ctx, const hush__model_round *row, hush_err *err)
{
    json_t *metrics =
        row->metrics != NULL
            ? hush__json_loadb(row->metrics, strlen(row->metrics), 0, NULL, NULL)
            : NULL;
    json_t *o =
        json_pack("{s:I, s:I, s:f, s:o, s:I, s:f, s:o}", "round", (json_int_t)row->round,
                  "updates", (json_int_t)row->updates, "clip_norm", row->clip, "epsilon",
                  isfinite(row->epsilon) ? json_real(row->epsilon) : json_null(),
                  "closed_at", (json_int_t)row->closed_at, "aggregate_ms",
                  row->aggregate_ms, "metrics", metrics != NULL ? metrics : json_null());
    return o != NULL && json_array_append_new(ctx, o) == 0
               ? 0
               : hush_err_set(err, HUSH_ENOMEM, "out of memory");
}

int hush__task_rounds(hush_collector *h, hush__task *t, json_t **out, hush__fail *f)
{
    hush_err err = {0};
    json_t *arr = json_array();
    if (arr == NULL || h->store->ops->model_rounds_each(h->store, t->id, model_round_row,
                                                        arr, &err) != 0) {
        json_decref(arr);
        return arr == NULL
                   ? hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory")
                   : hush__fail_from(
                         f, &err, err.code == HUSH_ENOMEM ? "internal" : "unavailable");
    }
    *out = json_pack("{s:s, s:o}", "model", t->id, "rounds", arr);
    return *out != NULL ? 0 : hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
}

#define MAX_MODEL_METRICS_BYTES 16384

int hush__task_round_metrics(hush_collector *h, hush__task *t, const json_t *doc,
                             json_t **out, hush__fail *f)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)doc, key, v)
    {
        if (strcmp(key, "round") != 0 && strcmp(key, "metrics") != 0) {
            return hush__fail_set(f, HUSH_EINVAL, "invalid", "unknown field \"%s\"", key);
        }
    }
    const json_t *round = json_object_get(doc, "round"),
                 *metrics = json_object_get(doc, "metrics");
    if (!json_is_integer(round) || json_integer_value(round) < 1 ||
        json_integer_value(round) > UINT32_MAX) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_round",
                              "\"round\" must be the number of a closed round");
    }
    char *text = json_is_object(metrics)
                     ? hush_json_dumps(metrics, JSON_COMPACT | JSON_REAL_PRECISION(17))
                     : NULL;
    if (text == NULL || strlen(text) > MAX_MODEL_METRICS_BYTES) {
        hush_free(text);
        return hush__fail_set(f, HUSH_EINVAL, "invalid_metrics",
                              "\"metrics\" must be an object of at most %d bytes",
                              MAX_MODEL_METRICS_BYTES);
    }
    uint32_t r = (uint32_t)json_integer_value(round);
    hush_err err = {0};
    int rc = h->store->ops->model_round_metrics(h->store, t->id, r, text, &err);
    hush_free(text);
    if (rc == HUSH_ENOTFOUND) {
        return hush__fail_set(f, HUSH_ENOTFOUND, "unknown_round",
                              "model %s has no closed round %u", t->id, r);
    }
    if (rc != 0) {
        return hush__fail_from(f, &err,
                               err.code == HUSH_ENOMEM ? "internal" : "unavailable");
    }
    *out = json_pack("{s:s, s:I, s:O}", "model", t->id, "round", (json_int_t)r, "metrics",
                     metrics);
    return *out != NULL ? 0 : hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
}

void hush__tasks_resign(hush_collector *h)
{
    for (size_t i = 0; i < h->n_tasks; i++) {
        hush__task *t = h->tasks[i];
        pthread_mutex_lock(&t->lock);
        uint8_t sig[crypto_sign_BYTES];
        hush__sign(h, t->pub_body, strlen(t->pub_body), sig);
        char *b64 = hush_b64_encode(sig, sizeof sig);
        if (b64 != NULL) {
            hush_free(t->signature);
            t->signature = b64;
        }
        pthread_mutex_unlock(&t->lock);
    }
}
