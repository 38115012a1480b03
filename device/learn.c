/*
 * learn.c - the device's half of federated learning: labelled examples in
 * memory, accepting a signed model, one training round, on-device
 * prediction with personal models.
 *
 * Invariants: examples, like samples, live only in memory; what leaves is
 * a clipped update (plus local noise when the task asks for local DP),
 * charged to the ledger before it is returned; personal parameters (the
 * FedPer head, the Ditto model) are written only to the state directory
 * and never into an update.
 */
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

#include "device_internal.h"

#define LOCAL_DP_DELTA 1e-5

void hush_agent_clear_examples(hush_agent *a)
{
    for (size_t i = 0; i < a->n_examples; i++) {
        sodium_memzero(a->examples[i].text, a->examples[i].len);
        hush_free(a->examples[i].text);
        a->examples[i].text = NULL;
    }
    a->n_examples = 0;
    a->examples_seen = 0;
}

size_t hush_agent_example_count(const hush_agent *a)
{
    return a->n_examples;
}

int hush_agent_add_example(hush_agent *a, const char *text, size_t len, uint32_t label,
                           hush_err *err)
{
    if (text == NULL || len == 0) {
        return hush_err_set(err, HUSH_EINVAL, "an example needs some text");
    }
    if (len > a->cfg.max_sample_bytes) {
        return hush_err_set(err, HUSH_ETOOBIG, "an example of %zu bytes exceeds %zu", len,
                            a->cfg.max_sample_bytes);
    }
    size_t slot = a->n_examples;
    if (a->n_examples == a->cfg.max_samples) {
        uint64_t j = hush_rng_uniform(a->rng, a->examples_seen + 1);
        if (j >= a->cfg.max_samples) {
            a->examples_seen++;
            return 0;
        }
        slot = (size_t)j;
    }
    char *copy = hush_malloc(len + 1);
    if (copy == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory for an example");
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    if (slot < a->n_examples) {
        sodium_memzero(a->examples[slot].text, a->examples[slot].len);
        hush_free(a->examples[slot].text);
    } else {
        a->n_examples++;
    }
    a->examples[slot] = (hush__example){copy, len, label};
    a->examples_seen++;
    return 0;
}

void hush_fl_model_free(hush_fl_model *m)
{
    if (m != NULL) {
        hush_model_pub_free(m->pub);
        hush_embedder_free(m->embedder);
        hush_free(m);
    }
}

const char *hush_fl_model_id(const hush_fl_model *m)
{
    return m->pub->model;
}

uint32_t hush_fl_model_round(const hush_fl_model *m)
{
    return m->pub->round;
}

const char *const *hush_fl_model_labels(const hush_fl_model *m, size_t *n)
{
    *n = hush_model_get_spec(m->pub->global)->classes;
    return (const char *const *)m->pub->labels;
}

static void model_key(const char *id, char *key, size_t cap)
{
    snprintf(key, cap, "model/%s", id);
}

int hush_agent_accept_model(hush_agent *a, const char *expected_id, const char *body,
                            size_t len, const char *signature, hush_fl_model **out,
                            hush_err *err)
{
    if (expected_id == NULL || expected_id[0] == '\0') {
        return hush_err_set(err, HUSH_EINVAL,
                            "accepting a model needs the task id it was fetched for");
    }
    int rc = hush__verify_trusted(a, body, len, signature, err);
    if (rc != 0) {
        return rc;
    }
    hush_fl_model *m = hush_calloc(1, sizeof *m);
    if (m == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory accepting a model");
    }
    if ((rc = hush_model_pub_parse(body, len, &m->pub, err)) != 0 ||
        (rc = hush_embedder_new(m->pub->embedder, strlen(m->pub->embedder), NULL, 0,
                                a->cfg.word_vectors, &m->embedder, err)) != 0) {
        hush_fl_model_free(m);
        return rc;
    }
    char key[HUSH__LEDGER_KEY_MAX + 1];
    model_key(m->pub->model, key, sizeof key);
    if (strcmp(m->pub->model, expected_id) != 0) {
        rc = hush_err_set(err, HUSH_EMISMATCH,
                          "asked for model task \"%s\" but the publication is \"%s\"'s",
                          expected_id, m->pub->model);
    } else if ((rc = hush__ledger_lock(&a->ledger, hush__agent_now(a), err)) == 0) {
        rc = hush__check_round(a, key, m->pub->model, m->pub->round, err);
        hush__ledger_unlock(&a->ledger);
    }
    if (rc != 0) {
        hush_fl_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* state_dir/personal-<id>.mdl and its temporary name */
static void personal_paths(const hush_agent *a, const char *id, char *path, char *tmp,
                           size_t cap)
{
    snprintf(path, cap, "%s/personal-%s.mdl", a->state_dir, id);
    snprintf(tmp, cap, "%s/personal-%s.mdl.tmp", a->state_dir, id);
}

/* The saved personal model of this task, if any and if it fits the
 * task's architecture (a task whose architecture changed starts over). */
static hush_model *personal_load(const hush_agent *a, const hush_fl_model *m)
{
    char path[HUSH__STATE_PATH_MAX + 128], tmp[HUSH__STATE_PATH_MAX + 128];
    personal_paths(a, m->pub->model, path, tmp, sizeof path);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 65536 > cap) {
            cap = (n + 65536) * 2;
            uint8_t *g = hush_realloc(buf, cap);
            if (g == NULL) {
                break;
            }
            buf = g;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            break;
        }
    }
    fclose(f);
    hush_model *p = NULL;
    if (buf == NULL || hush_model_deserialize(buf, n, &p, NULL) != 0 ||
        hush_model_size(p) != hush_model_size(m->pub->global) ||
        hush_model_get_spec(p)->kind != hush_model_get_spec(m->pub->global)->kind) {
        hush_model_free(p);
        p = NULL;
    }
    hush_free(buf);
    return p;
}

static int personal_save(const hush_agent *a, const hush_fl_model *m, const hush_model *p,
                         hush_err *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = hush_model_serialize(p, &buf, &len, err);
    if (rc != 0) {
        return rc;
    }
    char path[HUSH__STATE_PATH_MAX + 128], tmp[HUSH__STATE_PATH_MAX + 128];
    personal_paths(a, m->pub->model, path, tmp, sizeof path);
    rc = hush__write_atomic(a->state_dir, path, tmp, buf, len, err);
    hush_free(buf);
    return rc;
}

/* The examples embedded: x (n x dim), y; *n may shrink to max. */
static int embed_examples(const hush_agent *a, const hush_fl_model *m, size_t max,
                          float **x, uint32_t **y, size_t *n, hush_err *err)
{
    size_t k = a->n_examples < max || max == 0 ? a->n_examples : max;
    uint32_t dim = hush_embedder_dim(m->embedder);
    uint32_t classes = hush_model_get_spec(m->pub->global)->classes;
    *x = hush_calloc(k * dim + 1, sizeof **x);
    *y = hush_calloc(k + 1, sizeof **y);
    if (*x == NULL || *y == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory embedding examples");
    }
    size_t used = 0;
    for (size_t i = 0; i < k; i++) {
        const hush__example *e = &a->examples[i];
        if (e->label >= classes) {
            continue; /* a label the task does not have */
        }
        int rc =
            hush_embed_text(m->embedder, e->text, e->len, *x + used * dim, dim, NULL);
        if (rc == HUSH_ENOMEM) {
            return hush_err_set(err, HUSH_ENOMEM, "out of memory embedding examples");
        }
        if (rc == 0) {
            (*y)[used++] = e->label;
        }
    }
    *n = used;
    return 0;
}

/*
 * The participation coin of (this device, task, round): a keyed PRF of the
 * device secret (BLAKE2b), compared with q 2^64 rounded down.  Because it is
 * a function of the secret, the task and the round only, every call in a
 * round, after any restart or crash, gets the same answer, so the device is
 * in the round's sample with probability exactly q (to 2^-64) however often
 * the app calls: the Poisson sampling the RDP accountant assumes.  Rounds
 * and tasks get independent coins; the secret never leaves the device, so
 * nobody else can predict them.
 */
bool hush__participates(const hush_agent *a, const char *task, uint32_t round, double q)
{
    if (q >= 1.0) {
        return true;
    }
    if (!(q > 0.0)) {
        return false;
    }
    static const char tag[] = "hush fl participation v1";
    size_t tl = strlen(task);
    uint8_t msg[sizeof tag + HUSH__LEDGER_KEY_MAX + 8];
    if (tl > HUSH__LEDGER_KEY_MAX) {
        return false;
    }
    memcpy(msg, tag, sizeof tag); /* with its NUL: the tag ends unambiguously */
    memcpy(msg + sizeof tag, task, tl);
    msg[sizeof tag + tl] = 0;
    hush_store_le32(msg + sizeof tag + tl + 1, round);
    uint8_t h[crypto_generichash_BYTES_MIN];
    crypto_generichash(h, sizeof h, msg, sizeof tag + tl + 5, a->secret,
                       sizeof a->secret);
    uint64_t u = hush_load_le64(h);
    sodium_memzero(h, sizeof h);
    return u < hush_prob_threshold(q, false);
}

#define DITTO_FOLDS 5
#define DITTO_MIN_EXAMPLES 6     /* fewer: the largest candidate, unvalidated */
#define DITTO_RESELECT_ROUNDS 10 /* the global model moves: choose again */

/* The mean held-out cross-entropy of each of the K folds for Ditto at
 * pull `lambda`: a model started at the global one, trained on the other
 * folds with the pull, scored on the fold.  fold_loss gets K values. */
static int ditto_folds(hush_agent *a, const hush_model_pub *pub, const float *x,
                       const uint32_t *y, size_t n, const hush_train_options *o,
                       double lambda, float *xt, uint32_t *yt, double *fold_loss,
                       hush_err *err)
{
    size_t dim = hush_model_get_spec(pub->global)->inputs;
    for (size_t f = 0; f < DITTO_FOLDS; f++) {
        size_t nt = 0, nv = 0;
        for (size_t i = 0; i < n; i++) { /* training rows first, held-out last */
            size_t at = i % DITTO_FOLDS == f ? n - 1 - nv++ : nt++;
            memcpy(xt + at * dim, x + i * dim, dim * sizeof *xt);
            yt[at] = y[i];
        }
        hush_model *m = NULL;
        hush_train_options po = *o;
        po.prox = hush_model_cparams(pub->global);
        po.prox_mu = (float)lambda;
        int rc = hush_model_clone(pub->global, &m, err);
        if (rc == 0) {
            rc = hush_model_train(m, xt, yt, nt, &po, a->rng, NULL, err);
        }
        if (rc == 0) {
            fold_loss[f] = hush_model_loss_grad(m, xt + nt * dim, yt + nt, nv, NULL);
        }
        hush_model_free(m);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/*
 * Ditto's pull for this device: the task's one value, or when the
 * publication lists candidates, the device's own choice by K-fold
 * cross-validation of the held-out cross-entropy on its own examples (as
 * Li et al. 2021 select lambda per device), with the one-standard-error
 * rule: the largest pull whose loss is within one standard error (over
 * the folds) of the best -- a device whose data looks like everyone's
 * stays near the global model, one whose data differs moves away.  Chosen
 * again when the examples change or every DITTO_RESELECT_ROUNDS rounds;
 * with fewer than DITTO_MIN_EXAMPLES examples, the largest candidate.
 * Nothing of it leaves the device.
 */
static double ditto_lambda(hush_agent *a, const hush_model_pub *pub, const float *x,
                           const uint32_t *y, size_t n, const hush_train_options *o)
{
    size_t nc = pub->n_ditto_lambdas;
    if (nc <= 1 || n < DITTO_MIN_EXAMPLES) {
        return pub->ditto_lambdas[nc - 1];
    }
    if (strcmp(a->ditto.task, pub->model) == 0 && a->ditto.examples == n &&
        pub->round >= a->ditto.round &&
        pub->round < a->ditto.round + DITTO_RESELECT_ROUNDS) {
        return a->ditto.lambda;
    }
    size_t dim = hush_model_get_spec(pub->global)->inputs;
    float *xt = hush_malloc(n * dim * sizeof *xt);
    uint32_t *yt = hush_malloc(n * sizeof *yt);
    double mean[8], se[8], loss[DITTO_FOLDS];
    size_t best = nc; /* none yet */
    for (size_t c = 0; xt != NULL && yt != NULL && c < nc; c++) {
        if (ditto_folds(a, pub, x, y, n, o, pub->ditto_lambdas[c], xt, yt, loss, NULL) !=
            0) {
            best = nc;
            break;
        }
        double s = 0, ss = 0;
        for (size_t f = 0; f < DITTO_FOLDS; f++) {
            s += loss[f];
        }
        mean[c] = s / DITTO_FOLDS;
        for (size_t f = 0; f < DITTO_FOLDS; f++) {
            ss += (loss[f] - mean[c]) * (loss[f] - mean[c]);
        }
        se[c] = sqrt(ss / (DITTO_FOLDS - 1) / DITTO_FOLDS);
        best = best == nc || mean[c] < mean[best] ? c : best;
    }
    double lambda = pub->ditto_lambdas[nc - 1];
    if (best < nc) { /* the largest pull within one standard error of the best */
        for (size_t c = nc; c-- > best;) {
            if (mean[c] <= mean[best] + se[best]) {
                lambda = pub->ditto_lambdas[c];
                break;
            }
        }
        snprintf(a->ditto.task, sizeof a->ditto.task, "%s", pub->model);
        a->ditto.round = pub->round;
        a->ditto.examples = n;
        a->ditto.lambda = lambda;
    }
    if (xt != NULL) {
        sodium_memzero(xt, n * dim * sizeof *xt);
    }
    hush_free(xt);
    hush_free(yt);
    return lambda;
}

/* Trains the device's personal model of a personalized task on the
 * embedded examples and saves it in the state directory: Ditto's model
 * with its proximal pull toward the global one; under FedPer the device's
 * head on the current global body.  Nothing is sent. */
static int personal_step(hush_agent *a, const hush_fl_model *m, const float *x,
                         const uint32_t *y, size_t n, const hush_train_options *o,
                         hush_err *err)
{
    const hush_model_pub *pub = m->pub;
    hush_model *personal = personal_load(a, m);
    int rc = 0;
    size_t head = hush_model_head_offset(pub->global);
    if (personal == NULL) {
        rc = hush_model_clone(pub->global, &personal, err);
    } else if (pub->personalization == HUSH_PERSONAL_FEDPER) {
        /* the latest global body under the device's own head */
        memcpy(hush_model_params(personal), hush_model_cparams(pub->global),
               head * sizeof(float));
    }
    hush_train_options po = *o;
    if (pub->personalization == HUSH_PERSONAL_DITTO) {
        po.prox = hush_model_cparams(pub->global);
        po.prox_mu = (float)ditto_lambda(a, pub, x, y, n, o);
    } else {
        po.head_only = true;
    }
    if (rc == 0) {
        rc = hush_model_train(personal, x, y, n, &po, a->rng, NULL, err);
    }
    if (rc == 0) {
        rc = personal_save(a, m, personal, err);
    }
    hush_model_free(personal);
    return rc;
}

/* The checks before a round's work, under the ledger lock: not an older
 * round, nothing sent for this one yet, the task's and the device's daily
 * budgets, the sampling coin, examples to learn from. */
static int round_checks(hush_agent *a, const hush_model_pub *pub, const char *key,
                        double eps, hush_err *err)
{
    /* never an older round than one accepted; at most one update a round */
    int rc = hush__check_round(a, key, pub->model, pub->round, err);
    if (rc != 0) {
        return rc;
    }
    const hush__ledger_round *r = hush__ledger_round_find(&a->ledger, key);
    if (r != NULL && r->sent == pub->round) {
        return hush_err_set(err, HUSH_EBUDGET,
                            "model %s: this device already sent its update for round %u",
                            pub->model, pub->round);
    }
    if (pub->secagg && r != NULL && r->count >= pub->sa.max_participations) {
        return hush_err_set(err, HUSH_EBUDGET,
                            "model %s: this device took part in %u rounds, the most its "
                            "privacy accounting allows",
                            pub->model, r->count);
    }
    if (!pub->open) { /* nothing to send to: never charge for it */
        return hush_err_set(err, HUSH_ESTATE,
                            "model %s takes no more updates (the task is over)",
                            pub->model);
    }
    /* the ledger's rules, then the sampling coin, then the work */
    const hush__ledger_entry *e = hush__ledger_find(&a->ledger, key);
    if (e != NULL && e->reports >= pub->updates_per_device_per_day) {
        return hush_err_set(err, HUSH_EBUDGET,
                            "model %s: %u update(s) a day, already sent today",
                            pub->model, pub->updates_per_device_per_day);
    }
    if ((a->cfg.max_reports_per_day != 0 &&
         a->ledger.device_reports >= a->cfg.max_reports_per_day) ||
        (a->cfg.max_epsilon_per_day > 0 &&
         a->ledger.device_epsilon + eps > a->cfg.max_epsilon_per_day * (1 + 1e-9))) {
        return hush_err_set(err, HUSH_EBUDGET,
                            "the app's device-wide policy allows no more "
                            "today");
    }
    if (!hush__participates(a, pub->model, pub->round, pub->sampling_rate)) {
        return hush_err_set(err, HUSH_ENOTFOUND,
                            "not sampled for round %u (each device takes part with "
                            "probability %g, decided once per round)",
                            pub->round, pub->sampling_rate);
    }
    if (a->n_examples == 0) {
        return hush_err_set(err, HUSH_ESTATE, "the agent holds no labelled examples");
    }
    return 0;
}

/* Local training on the examples: the update (local - global, the body
 * only under FedPer), clipped, with local noise if the task asks; the
 * personal part saved on the device before anything leaves.  *delta is
 * new (*n floats). */
static int local_update(hush_agent *a, const hush_fl_model *m,
                        const hush_train_budget *budget, float **delta_out, size_t *n_out,
                        bool *unclipped, hush_err *err)
{
    const hush_model_pub *pub = m->pub;
    hush_train_budget b = budget != NULL ? *budget : (hush_train_budget){0};
    float *x = NULL;
    uint32_t *y = NULL;
    size_t n = 0;
    hush_model *local = NULL, *personal = NULL;
    float *delta = NULL;
    int rc = embed_examples(a, m, b.max_examples, &x, &y, &n, err);
    if (rc == 0 && n == 0) {
        rc = hush_err_set(err, HUSH_ESTATE,
                          "no example has a label of this model and text to "
                          "embed");
    }
    if (rc == 0) {
        rc = hush_model_clone(pub->global, &local, err);
    }
    size_t size = hush_model_size(pub->global),
           head = hush_model_head_offset(pub->global);
    hush_train_options o = pub->local;
    o.max_seconds = b.max_seconds;
    o.max_steps = b.max_steps;
    if (rc == 0 && pub->personalization == HUSH_PERSONAL_FEDPER) {
        personal = personal_load(a, m);
        if (personal != NULL) { /* the device's own head on the global body */
            memcpy(hush_model_params(local) + head, hush_model_cparams(personal) + head,
                   (size - head) * sizeof(float));
        }
    }
    if (rc == 0) {
        rc = hush_model_train(local, x, y, n, &o, a->rng, NULL, err);
    }
    size_t un = hush_model_pub_update_size(pub);
    delta = rc == 0 ? hush_malloc(un * sizeof *delta + 1) : NULL;
    if (rc == 0 && delta == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory for the update");
    }
    if (rc == 0) {
        hush_update_delta(hush_model_cparams(local), hush_model_cparams(pub->global),
                          delta, un);
        double norm = hush_clip_l2(delta, un, pub->clip);
        *unclipped = norm <= pub->clip;
        if (pub->local_noise > 0) {
            hush_local_dp_noise(delta, un, pub->clip, pub->local_noise, a->rng);
        }
    }
    /* the personal part: saved on the device before anything leaves */
    if (rc == 0 && pub->personalization == HUSH_PERSONAL_FEDPER) {
        rc = personal_save(a, m, local, err); /* the head it just trained */
    } else if (rc == 0 && pub->personalization == HUSH_PERSONAL_DITTO) {
        rc = personal_step(a, m, x, y, n, &o, err);
    }
    if (x != NULL) {
        sodium_memzero(x, n * hush_embedder_dim(m->embedder) * sizeof *x);
    }
    hush_free(x);
    hush_free(y);
    hush_model_free(local);
    hush_model_free(personal);
    if (rc != 0) {
        hush_free(delta);
        return rc;
    }
    *delta_out = delta;
    *n_out = un;
    return 0;
}

/* Bytes a round's training holds beyond the publication and the embedded
 * examples: training the whole model (its clone and gradient, the update
 * and its lattice integers; Ditto's personal model and gradient), or its
 * head only (the update's integers or floats, the head's model and
 * gradient, the examples' features). */
static void round_memory(const hush_model_pub *pub, size_t examples, size_t *full,
                         size_t *head)
{
    const hush_model_spec *s = hush_model_get_spec(pub->global);
    size_t n = hush_model_size(pub->global), un = hush_model_pub_update_size(pub),
           hn = n - hush_model_head_offset(pub->global);
    *full = sizeof(float) *
            (2 * n + 2 * un + (pub->personalization == HUSH_PERSONAL_DITTO ? 2 * n : 0));
    *head =
        s->hidden == 0 ? SIZE_MAX : sizeof(float) * (un + 3 * hn + examples * s->hidden);
}

/* Whether the round trains the whole model or, to fit the app's memory
 * budget, the head only; HUSH_ETOOBIG when neither fits (nothing done). */
static int memory_plan(const hush_agent *a, const hush_model_pub *pub,
                       const hush_train_budget *b, bool *head_only, hush_err *err)
{
    *head_only = false;
    if (b == NULL || b->max_memory_bytes == 0) {
        return 0;
    }
    size_t full = 0, head = 0;
    round_memory(pub, a->n_examples, &full, &head);
    if (full <= b->max_memory_bytes) {
        return 0;
    }
    if (head <= b->max_memory_bytes && pub->personalization != HUSH_PERSONAL_FEDPER &&
        pub->local_noise == 0) {
        *head_only = true;
        return 0;
    }
    return hush_err_set(err, HUSH_ETOOBIG,
                        "a round of model %s needs about %zu bytes (%s); the memory "
                        "budget is %zu",
                        pub->model, head < full ? head : full,
                        head == SIZE_MAX ? "a model without a body trains whole"
                        : pub->personalization == HUSH_PERSONAL_FEDPER
                            ? "FedPer sends the body, which a head-only round leaves"
                        : pub->local_noise > 0 ? "local DP noises the whole update"
                                               : "training the head only",
                        b->max_memory_bytes);
}

/* The head's features of the examples (the global body's hidden
 * activations): *f is new (n x hidden), the embedded examples are wiped. */
static int head_features(hush_agent *a, const hush_fl_model *m, uint32_t max_examples,
                         float **f, uint32_t **y, size_t *n, hush_err *err)
{
    const hush_model_pub *pub = m->pub;
    uint32_t dim = hush_embedder_dim(m->embedder),
             hd = hush_model_get_spec(pub->global)->hidden;
    float *x = NULL;
    int rc = embed_examples(a, m, max_examples, &x, y, n, err);
    if (rc == 0 && *n == 0) {
        rc = hush_err_set(err, HUSH_ESTATE,
                          "no example has a label of this model and text to embed");
    }
    *f = rc == 0 ? hush_malloc(*n * hd * sizeof **f + 1) : NULL;
    if (rc == 0 && *f == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory for the examples' features");
    }
    for (size_t i = 0; rc == 0 && i < *n; i++) {
        (void)hush_model_hidden(pub->global, x + i * dim, *f + i * hd);
    }
    if (x != NULL) {
        sodium_memzero(x, *n * dim * sizeof *x);
    }
    hush_free(x);
    return rc;
}

/* A round that trains the head only (the memory budget): the head as a
 * softmax model of its own on the body's features, its change clipped to
 * the round's norm (the update is zero elsewhere, so the norm is the
 * head's), and the update document built around it. */
static int head_round(hush_agent *a, const hush_fl_model *m, const hush_train_budget *b,
                      const uint8_t *batch_id, char **doc, hush_err *err)
{
    const hush_model_pub *pub = m->pub;
    const hush_model_spec *s = hush_model_get_spec(pub->global);
    size_t n = hush_model_size(pub->global), off = hush_model_head_offset(pub->global),
           hn = n - off, k = 0;
    float *f = NULL, *dh = NULL;
    uint32_t *y = NULL;
    hush_model *head = NULL;
    hush_model_spec hs = {
        .kind = HUSH_MODEL_SOFTMAX, .inputs = s->hidden, .classes = s->classes};
    int rc = head_features(a, m, b->max_examples, &f, &y, &k, err);
    if (rc == 0 && (rc = hush_model_new(&hs, 0, &head, err)) == 0) {
        memcpy(hush_model_params(head), hush_model_cparams(pub->global) + off,
               hn * sizeof(float));
        hush_train_options o = pub->local;
        o.max_seconds = b->max_seconds;
        o.max_steps = b->max_steps;
        rc = hush_model_train(head, f, y, k, &o, a->rng, NULL, err);
    }
    if (rc == 0 && (dh = hush_malloc(hn * sizeof *dh)) == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory for the update");
    }
    bool unclipped = false;
    if (rc == 0) {
        hush_update_delta(hush_model_cparams(head), hush_model_cparams(pub->global) + off,
                          dh, hn);
        unclipped = hush_clip_l2(dh, hn, pub->clip) <= pub->clip;
    }
    if (rc == 0 && pub->upload.lattice) {
        int32_t *kk = hush_calloc(n + 1, sizeof *kk);
        rc = kk == NULL ? hush_err_set(err, HUSH_ENOMEM, "out of memory for the update")
                        : hush_lattice_quantize(dh, hn, pub->clip, pub->upload.step,
                                                pub->upload.shift, a->rng, kk + off, err);
        *doc = rc == 0
                   ? hush_model_update_build_lattice(pub->model, pub->round, batch_id, kk,
                                                     n, pub->upload.shift, unclipped)
                   : NULL;
        hush_free(kk);
    } else if (rc == 0) {
        float *full = hush_calloc(n + 1, sizeof *full);
        if (full != NULL) {
            memcpy(full + off, dh, hn * sizeof *dh);
            *doc = hush_model_update_build(pub->model, pub->round, batch_id, full, n,
                                           unclipped);
        }
        hush_free(full);
    }
    if (f != NULL) {
        sodium_memzero(f, k * s->hidden * sizeof *f);
    }
    hush_free(f);
    hush_free(y);
    hush_free(dh);
    hush_model_free(head);
    return rc;
}

/* The update as integers on the round's lattice, Rice-coded: what the
 * server keeps of it in a fraction of the bytes. */
static int lattice_doc(hush_agent *a, const hush_model_pub *pub, const uint8_t *batch_id,
                       const float *delta, size_t n, bool unclipped, char **doc,
                       hush_err *err)
{
    int32_t *k = hush_malloc(n * sizeof *k + 1);
    if (k == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory for the update");
    }
    int rc = hush_lattice_quantize(delta, n, pub->clip, pub->upload.step,
                                   pub->upload.shift, a->rng, k, err);
    if (rc == 0) {
        *doc = hush_model_update_build_lattice(pub->model, pub->round, batch_id, k, n,
                                               pub->upload.shift, unclipped);
    }
    sodium_memzero(k, n * sizeof *k);
    hush_free(k);
    return rc;
}

/* The round's update document: the whole model trained, or its head only
 * when that is what fits the app's memory budget. */
static int update_doc(hush_agent *a, const hush_fl_model *m,
                      const hush_train_budget *budget, char **doc, hush_err *err)
{
    const hush_model_pub *pub = m->pub;
    uint8_t batch_id[HUSH_BATCH_ID_BYTES];
    bool head_only = false;
    int rc = memory_plan(a, pub, budget, &head_only, err);
    if (rc == 0 && head_only) {
        hush_rng_bytes(a->rng, batch_id, sizeof batch_id);
        rc = head_round(a, m, budget, batch_id, doc, err);
    } else if (rc == 0) {
        float *delta = NULL;
        size_t un = 0;
        bool unclipped = false;
        rc = local_update(a, m, budget, &delta, &un, &unclipped, err);
        if (rc == 0) {
            hush_rng_bytes(a->rng, batch_id, sizeof batch_id);
        }
        if (rc == 0 && pub->upload.lattice) {
            rc = lattice_doc(a, pub, batch_id, delta, un, unclipped, doc, err);
        } else if (rc == 0) {
            *doc = hush_model_update_build(pub->model, pub->round, batch_id, delta, un,
                                           unclipped);
        }
        hush_free(delta);
    }
    if (rc == 0 && *doc == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory rendering the update");
    }
    return rc;
}

static int train_round_locked(hush_agent *a, const hush_fl_model *m,
                              const hush_train_budget *budget, char **out,
                              size_t *out_len, hush_err *err)
{
    const hush_model_pub *pub = m->pub;
    char key[HUSH__LEDGER_KEY_MAX + 1];
    model_key(pub->model, key, sizeof key);
    double eps = pub->local_noise > 0
                     ? hush_local_dp_epsilon(pub->local_noise, LOCAL_DP_DELTA)
                     : 0.0;
    if (pub->secagg) {
        return hush_err_set(err, HUSH_EUNSUPPORTED,
                            "model %s takes updates only through secure aggregation "
                            "(hush_agent_secagg_begin)",
                            pub->model);
    }
    char *doc = NULL;
    int rc = round_checks(a, pub, key, eps, err);
    if (rc == 0) {
        rc = update_doc(a, m, budget, &doc, err);
    }
    if (rc == 0) {
        /* charged, with the round it is for, before it is handed out */
        rc = hush__ledger_charge(&a->ledger, key, eps, 1, pub->round, err);
    }
    if (rc == 0) {
        *out = doc;
        *out_len = strlen(doc);
        doc = NULL;
    }
    hush_free(doc);
    return rc;
}

int hush_agent_train_round(hush_agent *a, const hush_fl_model *m,
                           const hush_train_budget *budget, char **out, size_t *out_len,
                           hush_err *err)
{
    /* the whole round under the state directory's lock: two processes on
     * one directory cannot both send this round's update */
    int rc = hush__ledger_lock(&a->ledger, hush__agent_now(a), err);
    if (rc == 0) {
        rc = train_round_locked(a, m, budget, out, out_len, err);
    }
    hush__ledger_unlock(&a->ledger);
    return rc;
}

int hush_agent_train_personal(hush_agent *a, const hush_fl_model *m,
                              const hush_train_budget *budget, hush_err *err)
{
    const hush_model_pub *pub = m->pub;
    if (pub->personalization == HUSH_PERSONAL_NONE) {
        return hush_err_set(err, HUSH_EUNSUPPORTED,
                            "model %s has no personal part to train", pub->model);
    }
    if (a->n_examples == 0) {
        return hush_err_set(err, HUSH_ESTATE, "the agent holds no labelled examples");
    }
    hush_train_budget b = budget != NULL ? *budget : (hush_train_budget){0};
    float *x = NULL;
    uint32_t *y = NULL;
    size_t n = 0;
    int rc = embed_examples(a, m, b.max_examples, &x, &y, &n, err);
    if (rc == 0 && n == 0) {
        rc = hush_err_set(err, HUSH_ESTATE,
                          "no example has a label of this model and text to embed");
    }
    hush_train_options o = pub->local;
    o.max_seconds = b.max_seconds;
    o.max_steps = b.max_steps;
    if (rc == 0) {
        rc = personal_step(a, m, x, y, n, &o, err);
    }
    if (x != NULL) {
        sodium_memzero(x, n * hush_embedder_dim(m->embedder) * sizeof *x);
    }
    hush_free(x);
    hush_free(y);
    return rc;
}

int hush_agent_predict(hush_agent *a, const hush_fl_model *m, const char *text,
                       size_t len, float *probs, size_t n, hush_err *err)
{
    const hush_model_pub *pub = m->pub;
    uint32_t classes = hush_model_get_spec(pub->global)->classes;
    if (text == NULL || len == 0 || n < classes) {
        return hush_err_set(err, HUSH_EINVAL,
                            "predict needs a text and room for %u classes", classes);
    }
    uint32_t dim = hush_embedder_dim(m->embedder);
    float *x = hush_malloc(dim * sizeof *x);
    if (x == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory predicting");
    }
    int rc = hush_embed_text(m->embedder, text, len, x, dim, err);
    hush_model *use = NULL;
    if (rc == 0) {
        hush_model *personal =
            pub->personalization != HUSH_PERSONAL_NONE ? personal_load(a, m) : NULL;
        if (personal != NULL && pub->personalization == HUSH_PERSONAL_FEDPER) {
            /* the latest global body with the device's head */
            size_t head = hush_model_head_offset(pub->global);
            memcpy(hush_model_params(personal), hush_model_cparams(pub->global),
                   head * sizeof(float));
        }
        use = personal;
        if (use == NULL) {
            rc = hush_model_clone(pub->global, &use, err);
        }
    }
    if (rc == 0) {
        hush_model_predict(use, x, probs);
    }
    sodium_memzero(x, dim * sizeof *x);
    hush_free(x);
    hush_model_free(use);
    return rc;
}

int hush_agent_secagg_begin(hush_agent *a, const hush_fl_model *m,
                            const hush_train_budget *budget, hush_fl_secagg **out,
                            hush_err *err)
{
    *out = NULL;
    const hush_model_pub *pub = m->pub;
    if (!pub->secagg) {
        return hush_err_set(err, HUSH_EUNSUPPORTED,
                            "model %s aggregates plain updates (hush_agent_train_round)",
                            pub->model);
    }
    char key[HUSH__LEDGER_KEY_MAX + 1];
    model_key(pub->model, key, sizeof key);
    /* one participation's epsilon, charged to the daily budget when the
     * masked update leaves (composition over participations is the task's
     * accountant's; the count is capped at max_participations) */
    double eps = 0;
    int rc = hush_ddg_epsilon(&pub->sa.plan, 1, pub->sa.delta, &eps, err);
    float *delta = NULL;
    size_t un = 0;
    bool unclipped = false;
    if (rc == 0 && (rc = hush__ledger_lock(&a->ledger, hush__agent_now(a), err)) == 0) {
        rc = round_checks(a, pub, key, eps, err);
        if (rc == 0) {
            rc = local_update(a, m, budget, &delta, &un, &unclipped, err);
        }
        hush__ledger_unlock(&a->ledger);
    }
    uint32_t *input =
        rc == 0 ? hush_malloc((size_t)pub->sa.plan.padded * sizeof *input) : NULL;
    if (rc == 0 && input == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory for the update");
    }
    if (rc == 0) {
        rc = hush_ddg_encode(&pub->sa.plan, delta, a->rng, input, err);
    }
    if (delta != NULL) {
        sodium_memzero(delta, un * sizeof *delta);
    }
    hush_free(delta);
    if (rc == 0) {
        return hush__fl_secagg_new(a, pub, key, eps, input, out, err); /* takes input */
    }
    hush_free(input);
    return rc;
}
