/*
 * fl.c - hush-sim fl: federated spam filtering on the SpamAssassin corpus,
 * through a real hushd and the real device library.
 *
 *   hush-sim fl [--corpus FILE] [--devices 1000] [--rounds 60] [--rate 0.1]
 *               [--epsilon 1,4,8] [--seed 1] [--calls 1] [--out DIR] [--json]
 *               [--split deal|iid|label-skew:ALPHA|preference:SHARE]
 *               [--model logistic|mlp:H] [--ditto-lambda L | L1,L2,...]
 *               [--train-emails 10] [--test-emails 10] [--personal-rate 1]
 *               [--local-only-epochs 100] [--upload float32|lattice:SHIFT]
 *               [--memory-budget BYTES] [--memory-share 1] [--only SETTINGS]
 *
 * --split (sim/split.h): without it (or "deal") the benchmark below; with
 * a drawn split the personalization benchmark: per device, on its own
 * test emails, the global model (fedavg), Ditto (a list for --ditto-lambda
 * lets each device choose), FedPer (MLP only), local-only training and
 * DP-FedAvg, each with the paired gain over the global model, its 95% CI
 * and the share of devices made worse.  Personal steps run on every device
 * each round with probability --personal-rate (the app allowing local
 * work), sampled or not.  --upload sets the DP tasks' upload encoding and
 * the rows say bytes_per_update; --memory-budget is the
 * hush_train_budget.max_memory_bytes of a --memory-share of the devices.
 *
 * hushd runs with --test-noise-seed SEED, so a DP row replays exactly.
 *
 * --calls K: every device calls hush_agent_train_round K times a round, as
 * an app that trains whenever it may (charging, idle, Wi-Fi) does; the
 * line then reports the share of devices in each round's sample
 * ("participation", which must stay q whatever K).
 *
 * Every email (ham 0, spam 1; subject + body) belongs to one device, dealt
 * at random, about six a device; a fifth of each device's emails are its
 * test emails and the rest its training examples.  One hush_agent per
 * device holds its examples in memory.  Each setting runs on a fresh hushd:
 *
 *   centralized    logistic regression trained on every training email in
 *                  one place (the reference; no privacy);
 *   fedavg         FedAvg: each round every device takes part with
 *                  probability q (its own coin), trains locally, posts its
 *                  update; the simulator then closes the round;
 *   personalized   the same with Ditto personal models (lambda 0.1), each
 *                  device predicting its test emails with its own model;
 *   dp-fedavg      DP-FedAvg at each target epsilon (delta 1e-5): clipped
 *                  updates, discrete Gaussian noise, the noise multiplier
 *                  chosen by hushd's accountant for the rounds and q;
 *   local-dp       each device noising its own update (per-update epsilon 8);
 *   secagg-dp      secure aggregation with distributed DP at each target
 *                  epsilon: each sampled device runs the protocol's stages
 *                  (sans I/O, all devices in lock step over HTTP) with its
 *                  share of the discrete Gaussian noise; the collector sees
 *                  only the sum of at least --sa-min-devices (60) updates;
 *                  each device takes part at most --sa-participations (10)
 *                  times, which is what the accountant counts (no
 *                  amplification: the collector sees who takes part);
 *                  --sa-max-devices (200) bounds a round; each stage's
 *                  deadline is --sa-stage-seconds (1: the keys stage of a
 *                  round waits that long for the sampled devices);
 *   secagg-matched the same at each --sa-noise-multiplier (e.g. central
 *                  DP-FedAvg's): the distributed mechanism's own cost
 *                  (lattice, rounding, noise sized for min_devices) at the
 *                  noise central DP uses; its epsilon against the collector
 *                  is what that noise gives without amplification.
 *
 * Accuracy is on the union of the devices' test emails (the global model),
 * or each device's own test emails with its own model (personalized).  A
 * last line times the server's DP aggregation of 1,000 updates of a
 * 10,000-parameter model.  One JSON object per line with --json.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "hush_device.h"
#include "hush_embed.h"
#include "hush_learning.h"
#include "hush_protocol.h"
#include "hush_transport.h"
#include "sim.h"
#include "split.h"

#define DAY 86400
#define MAX_EPS 8

typedef struct fl_opts {
    const char *corpus, *hushd, *out;
    size_t devices, rounds;
    double rate;
    double eps[MAX_EPS];
    size_t n_eps;
    uint64_t seed;
    bool json;
    double dp_clip, server_lr, local_lr;
    uint32_t local_epochs;
    size_t calls;                             /* train_round calls per device per round */
    size_t sa_min, sa_max, sa_participations; /* the secagg setting's */
    double sa_stage_seconds;
    double sa_noise[MAX_EPS]; /* secagg-matched: noise multipliers to run at */
    size_t n_sa_noise;
    const char *only; /* comma-separated settings to run; NULL = all */
    sim_split split;  /* how emails are dealt to devices */
    char split_name[48];
    hush_model_spec model; /* the task's architecture (inputs set from the embedder) */
    char model_name[32];
    double ditto_lambda[MAX_EPS]; /* one, or the candidates devices choose from */
    size_t n_ditto_lambda;
    double personal_rate; /* chance the app allows a personal step in a round */
    uint32_t local_only_epochs;
    size_t memory_budget; /* hush_train_budget.max_memory_bytes; 0 = none */
    double memory_share;  /* the share of devices with that budget (1 = all) */
    int upload_shift;     /* -1: float32; else lattice integers at this shift */
    bool upload_set;      /* --upload given (else the task's default) */
} fl_opts;

/* A flag's comma-separated numbers (at most MAX_EPS) into out: how many. */
static size_t number_list(const char *flag, const char *v, double *out)
{
    size_t n = 0;
    char *end = NULL;
    for (const char *p = v; *p != '\0' && n < MAX_EPS;) {
        out[n++] = strtod(p, &end);
        p = *end == ',' ? end + 1 : end;
        if (end == p && *p != '\0') {
            sim_die("%s is a list of numbers", flag);
        }
    }
    return n;
}

static bool wanted(const fl_opts *o, const char *name)
{
    if (o->only == NULL) {
        return true;
    }
    size_t n = strlen(name);
    for (const char *p = o->only; (p = strstr(p, name)) != NULL; p += n) {
        if ((p == o->only || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) {
            return true;
        }
    }
    return false;
}

typedef struct email {
    char *text;
    uint32_t label;  /* 0 ham, 1 spam, as the corpus has it */
    bool newsletter; /* ham from a mailing list or a newsletter */
} email;

typedef struct world {
    email *mail;
    size_t n;
    hush_embedder *embedder;
    char *embedder_desc;
    float *x;     /* every email embedded (n x dim) */
    bool *usable; /* it had text to embed */
    uint32_t dim;
    sim_held *held; /* who holds which email, labelled as its user sees it */
    size_t n_held;
    size_t *order; /* held by device: device d's are held[order[first[d]]] ..  */
    size_t *first; /* .. held[order[first[d + 1] - 1]] */
} world;

/* Ham a user may not want: a newsletter or mailing-list post (the corpus's
 * hard ham, commercial mail that is not spam, and any ham carrying a
 * list's or a newsletter's marks). */
static bool newsletter(const char *group, const char *text)
{
    static const char *marks[] = {"unsubscribe", "mailing list", "newsletter",
                                  "listinfo"};
    if (strncmp(group, "spam", 4) == 0) {
        return false;
    }
    if (strncmp(group, "hard-ham", 8) == 0) {
        return true;
    }
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
        size_t k = strlen(marks[i]);
        for (const char *t = text; *t != '\0'; t++) {
            if (strncasecmp(t, marks[i], k) == 0) {
                return true;
            }
        }
    }
    return false;
}

static void load(const fl_opts *o, world *w)
{
    FILE *f = fopen(o->corpus, "r");
    if (f == NULL) {
        sim_die("%s is missing: run scripts/fetch-corpus first", o->corpus);
    }
    char *line = NULL;
    size_t cap = 0, mcap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) > 0) {
        json_t *doc = json_loadb(line, (size_t)got, 0, NULL);
        const char *group = json_string_value(json_object_get(doc, "group"));
        const json_t *t = json_object_get(doc, "text");
        if (group != NULL && json_is_string(t) && json_string_length(t) > 0) {
            if (w->n == mcap) {
                mcap = mcap ? mcap * 2 : 4096;
                w->mail = realloc(w->mail, mcap * sizeof *w->mail);
                if (w->mail == NULL) {
                    sim_die("out of memory");
                }
            }
            const char *text = json_string_value(t);
            w->mail[w->n++] = (email){.text = strdup(text),
                                      .label = strncmp(group, "spam", 4) == 0 ? 1u : 0u,
                                      .newsletter = newsletter(group, text)};
        }
        json_decref(doc);
    }
    free(line);
    fclose(f);
    if (w->n < o->devices) {
        sim_die("%zu emails for %zu devices", w->n, o->devices);
    }
}

/* Every email embedded once (those with nothing to embed are unusable). */
static void embed_world(world *w)
{
    w->dim = hush_embedder_dim(w->embedder);
    w->x = calloc(w->n * w->dim + 1, sizeof *w->x);
    w->usable = calloc(w->n + 1, sizeof *w->usable);
    if (w->x == NULL || w->usable == NULL) {
        sim_die("out of memory");
    }
    for (size_t i = 0; i < w->n; i++) {
        w->usable[i] =
            hush_embed_text(w->embedder, w->mail[i].text, strlen(w->mail[i].text),
                            w->x + i * w->dim, w->dim, NULL) == 0;
    }
}

/* Deals the usable emails to devices as the split says. */
static void deal(const fl_opts *o, world *w, hush_rng *rng)
{
    uint32_t *label = calloc(w->n + 1, sizeof *label);
    bool *nl = calloc(w->n + 1, sizeof *nl);
    w->first = calloc(o->devices + 1, sizeof *w->first);
    if (label == NULL || nl == NULL || w->first == NULL) {
        sim_die("out of memory");
    }
    for (size_t i = 0; i < w->n; i++) {
        label[i] = w->mail[i].label;
        nl[i] = w->mail[i].newsletter;
    }
    sim_corpus c = {label, nl, w->usable, w->n};
    hush_err err = {0};
    if (sim_split_deal(&o->split, &c, o->devices, rng, &w->held, &w->n_held, NULL,
                       &err) != 0) {
        sim_die("dealing the corpus: %s", err.msg);
    }
    /* an index by device, for the per-device figures */
    size_t *count = calloc(o->devices + 1, sizeof *count);
    w->order = calloc(w->n_held + 1, sizeof *w->order);
    if (count == NULL || w->order == NULL) {
        sim_die("out of memory");
    }
    for (size_t i = 0; i < w->n_held; i++) {
        count[w->held[i].device + 1]++;
    }
    for (size_t d = 0; d < o->devices; d++) {
        count[d + 1] += count[d];
        w->first[d + 1] = count[d + 1];
    }
    for (size_t i = 0; i < w->n_held; i++) {
        w->order[count[w->held[i].device]++] = i;
    }
    free(count);
    free(label);
    free(nl);
}

/* The held emails' embeddings and labels, training or test ones. */
static size_t gather(const world *w, bool test, float **x, uint32_t **y)
{
    *x = calloc(w->n_held * w->dim + 1, sizeof **x);
    *y = calloc(w->n_held + 1, sizeof **y);
    if (*x == NULL || *y == NULL) {
        sim_die("out of memory");
    }
    size_t n = 0;
    for (size_t i = 0; i < w->n_held; i++) {
        if (w->held[i].test == test) {
            memcpy(*x + n * w->dim, w->x + (size_t)w->held[i].mail * w->dim,
                   w->dim * sizeof **x);
            (*y)[n++] = w->held[i].label;
        }
    }
    return n;
}

static void line(const fl_opts *o, json_t *doc)
{
    if (o->json) {
        char *s = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(12));
        printf("%s\n", s);
        free(s);
    } else {
        const char *setting = json_string_value(json_object_get(doc, "setting"));
        printf("  %-14s", setting != NULL ? setting : "");
        const char *key;
        json_t *v;
        json_object_foreach(doc, key, v)
        {
            if (strcmp(key, "bench") == 0 || strcmp(key, "setting") == 0) {
                continue;
            }
            if (json_is_real(v)) {
                printf(" %s %.4g", key, json_real_value(v));
            } else if (json_is_integer(v)) {
                printf(" %s %lld", key, (long long)json_integer_value(v));
            } else if (json_is_string(v)) {
                printf(" %s %s", key, json_string_value(v));
            }
        }
        printf("\n");
    }
    fflush(stdout);
    json_decref(doc);
}

/* The reference: the task's model trained on every training email in one
 * place, the best test accuracy of a small grid of step sizes (100 epochs,
 * batch 32) -- optimistic for the reference, so the federated settings are
 * held to a strict bar. */
static double centralized(const fl_opts *o, const world *w)
{
    static const float rates[] = {0.25f, 0.5f, 1.0f};
    float *x_train = NULL, *x_test = NULL;
    uint32_t *y_train = NULL, *y_test = NULL;
    size_t n_train = gather(w, false, &x_train, &y_train),
           n_test = gather(w, true, &x_test, &y_test);
    double best = 0;
    for (size_t k = 0; k < sizeof rates / sizeof rates[0]; k++) {
        hush_model *m = NULL;
        hush_rng *rng = NULL;
        if (hush_model_new(&o->model, o->seed, &m, NULL) != 0 ||
            hush_rng_new_seeded_u64(o->seed + 7, &rng) != 0) {
            sim_die("model");
        }
        hush_train_options t = {.epochs = 100, .batch = 32, .lr = rates[k]};
        if (hush_model_train(m, x_train, y_train, n_train, &t, rng, NULL, NULL) != 0) {
            sim_die("training");
        }
        double acc = hush_model_accuracy(m, x_test, y_test, n_test);
        best = acc > best ? acc : best;
        hush_model_free(m);
        hush_rng_free(rng);
    }
    free(x_train);
    free(x_test);
    free(y_train);
    free(y_test);
    return best;
}

/* The no-signal control: each device predicts, for every test email, the
 * label most of its own training emails have (ham on a tie), reading no
 * text -- what a personal model gets by learning its user's prior alone. */
static void majority_label(const fl_opts *o, const world *w, double *acc)
{
    for (size_t d = 0; d < o->devices; d++) {
        size_t spam = 0, train = 0, right = 0, total = 0;
        for (size_t k = w->first[d]; k < w->first[d + 1]; k++) {
            const sim_held *h = &w->held[w->order[k]];
            spam += !h->test && h->label == 1;
            train += !h->test;
        }
        uint32_t guess = 2 * spam > train ? 1u : 0u;
        for (size_t k = w->first[d]; k < w->first[d + 1]; k++) {
            const sim_held *h = &w->held[w->order[k]];
            right += h->test && h->label == guess;
            total += h->test;
        }
        acc[d] = total > 0 ? (double)right / (double)total : 0;
    }
}

/* Each device's accuracy on its own test emails with a model of its own,
 * trained on its own training emails only (local-only training: the
 * baseline that shares nothing). */
static void local_only(const fl_opts *o, const world *w, double *acc)
{
    float *x = calloc(w->n_held * w->dim + 1, sizeof *x);
    uint32_t *y = calloc(w->n_held + 1, sizeof *y);
    hush_rng *rng = NULL;
    if (x == NULL || y == NULL || hush_rng_new_seeded_u64(o->seed + 11, &rng) != 0) {
        sim_die("out of memory");
    }
    for (size_t d = 0; d < o->devices; d++) {
        size_t n = 0, right = 0, total = 0;
        for (size_t k = w->first[d]; k < w->first[d + 1]; k++) {
            const sim_held *h = &w->held[w->order[k]];
            if (!h->test) {
                memcpy(x + n * w->dim, w->x + (size_t)h->mail * w->dim,
                       w->dim * sizeof *x);
                y[n++] = h->label;
            }
        }
        hush_model *m = NULL;
        hush_train_options t = {
            .epochs = o->local_only_epochs, .batch = 8, .lr = (float)o->local_lr};
        if (hush_model_new(&o->model, o->seed, &m, NULL) != 0 ||
            (n > 0 && hush_model_train(m, x, y, n, &t, rng, NULL, NULL) != 0)) {
            sim_die("local training");
        }
        for (size_t k = w->first[d]; k < w->first[d + 1]; k++) {
            const sim_held *h = &w->held[w->order[k]];
            if (h->test) {
                float probs[2];
                hush_model_predict(m, w->x + (size_t)h->mail * w->dim, probs);
                right += (probs[1] > probs[0] ? 1u : 0u) == h->label;
                total++;
            }
        }
        acc[d] = total > 0 ? (double)right / (double)total : 0;
        hush_model_free(m);
    }
    free(x);
    free(y);
    hush_rng_free(rng);
}

static int64_t fl_clock(void *ctx)
{
    return *(const int64_t *)ctx;
}

typedef struct setting {
    const char *name;
    const char *personalization; /* "none" or "ditto" */
    double target_eps;           /* 0: no central DP */
    double clip;
    double local_noise;
    bool secagg;  /* secure aggregation with distributed DP at target_eps */
    double noise; /* secagg: this noise multiplier instead of a target */
} setting;

/* Every device's secure-aggregation session through to its end, in lock
 * step over one transport (sans I/O: the sessions say what to send): a
 * pass makes each running session's next request, skipping those that
 * asked to wait; a pass with no progress sleeps 50 ms.  Returns how many
 * sessions completed their part. */
static size_t drive_sessions(hush_transport *t, hush_fl_secagg **s, size_t n)
{
    size_t running = n, done = 0;
    double deadline = sim_now() + 600;
    while (running > 0) {
        if (sim_now() > deadline) {
            sim_die("secure aggregation did not finish in 600 s");
        }
        bool progress = false;
        running = 0;
        for (size_t i = 0; i < n; i++) {
            hush_secagg_request req;
            if (hush_fl_secagg_next(s[i], &req, NULL) != 0) {
                continue;
            }
            running++;
            hush_err err = {0};
            int rc = hush_fl_secagg_step(s[i], t, &err);
            if (rc == HUSH_EIO) {
                sim_die("secure aggregation: %s", err.msg);
            }
            if (rc != 0 && i == 0) {
                fprintf(stderr, "hush-sim: a device left the round: %s\n", err.msg);
            }
            hush_secagg_request after;
            progress = progress || hush_fl_secagg_next(s[i], &after, NULL) != 0 ||
                       after.wait == 0;
        }
        if (!progress) {
            sim_sleep(0.05);
        }
    }
    for (size_t i = 0; i < n; i++) {
        done += hush_fl_secagg_state(s[i]) == HUSH_FL_SECAGG_DONE;
    }
    return done;
}

/* The devices' part of one secure-aggregation round: sessions for those
 * sampled (and under their participation cap), driven to the end. */
static size_t secagg_round(hush_agent **agents, size_t n_agents,
                           const hush_fl_model *model, hush_transport *t,
                           size_t *in_sample)
{
    hush_fl_secagg **s = calloc(n_agents, sizeof *s);
    size_t n = 0;
    for (size_t d = 0; d < n_agents; d++) {
        hush_err err = {0};
        int rc = hush_agent_secagg_begin(agents[d], model, NULL, &s[n], &err);
        *in_sample += rc != HUSH_ENOTFOUND;
        if (rc == 0) {
            n++;
        } else if (rc != HUSH_ENOTFOUND && rc != HUSH_ESTATE && rc != HUSH_EBUDGET) {
            sim_die("device %zu: %s", d, err.msg);
        }
    }
    size_t done = drive_sessions(t, s, n);
    for (size_t i = 0; i < n; i++) {
        hush_fl_secagg_free(s[i]);
    }
    free(s);
    return done;
}

/* The open attempt's session (into `out`) and round. */
static size_t secagg_session(sim_http *h, sim_buf *b, char *out, size_t cap)
{
    long status = sim_call(h, "GET", "/v1/models/spam/secagg", NULL, 0, false, b);
    json_t *doc = status == 200 ? json_loads(b->p, 0, NULL) : NULL;
    snprintf(out, cap, "%s",
             doc != NULL ? json_string_value(json_object_get(doc, "session")) : "");
    size_t round = (size_t)json_integer_value(json_object_get(doc, "round"));
    json_decref(doc);
    return round;
}

enum { SA_OVER = -1, SA_RETRY = -2 };

/* Waits until the task has moved past round `round` (the last reveal
 * releases the sum) or a new attempt of it opened (the joined one,
 * `session`, failed): the rounds completed, SA_RETRY, or SA_OVER once the
 * task stopped running. */
static long secagg_wait(sim_http *h, sim_buf *b, size_t round, const char *session)
{
    for (int i = 0; i < 600; i++) {
        long status = sim_call(h, "GET", "/v1/models", NULL, 0, false, b);
        json_t *doc = status == 200 ? json_loads(b->p, 0, NULL) : NULL;
        json_t *m = json_array_get(json_object_get(doc, "models"), 0);
        size_t now_round = (size_t)json_integer_value(json_object_get(m, "round"));
        long done = (long)json_integer_value(json_object_get(m, "rounds_completed"));
        const char *state = json_string_value(json_object_get(m, "state"));
        bool over = state != NULL && strcmp(state, "running") != 0;
        json_decref(doc);
        if (over) {
            return SA_OVER;
        }
        if (now_round > round) {
            return done;
        }
        char now_session[64];
        if (secagg_session(h, b, now_session, sizeof now_session) == round &&
            strcmp(now_session, session) != 0) {
            return SA_RETRY;
        }
        sim_sleep(0.1);
    }
    sim_die("round %zu did not end", round);
}

/* Ditto's pull as the task says it: one number, or the candidates. */
static json_t *lambdas(const fl_opts *o)
{
    if (o->n_ditto_lambda == 1) {
        return json_real(o->ditto_lambda[0]);
    }
    json_t *a = json_array();
    for (size_t i = 0; i < o->n_ditto_lambda; i++) {
        json_array_append_new(a, json_real(o->ditto_lambda[i]));
    }
    return a;
}

/* The accuracy of each device on its own test emails: with the global
 * model (acc_global, may be NULL), and with what the device itself predicts
 * through hush_agent_predict -- its personal model when the task has one,
 * else the global (acc_own); the pooled share of test emails the latter
 * gets right is returned. */
static double device_accuracies(const fl_opts *o, const world *w, hush_agent **agents,
                                const hush_fl_model *model, hush_model *global,
                                double *acc_global, double *acc_own)
{
    size_t right_all = 0, total_all = 0;
    for (size_t d = 0; d < o->devices; d++) {
        size_t right = 0, right_g = 0, total = 0;
        for (size_t k = w->first[d]; k < w->first[d + 1]; k++) {
            const sim_held *h = &w->held[w->order[k]];
            if (!h->test) {
                continue;
            }
            const char *text = w->mail[h->mail].text;
            float probs[2], pg[2];
            hush_err err = {0};
            if (hush_agent_predict(agents[d], model, text, strlen(text), probs, 2,
                                   &err) != 0) {
                sim_die("predicting: %s", err.msg);
            }
            hush_model_predict(global, w->x + (size_t)h->mail * w->dim, pg);
            right += (probs[1] > probs[0] ? 1u : 0u) == h->label;
            right_g += (pg[1] > pg[0] ? 1u : 0u) == h->label;
            total++;
        }
        if (acc_global != NULL) {
            acc_global[d] = total > 0 ? (double)right_g / (double)total : 0;
        }
        if (acc_own != NULL) {
            acc_own[d] = total > 0 ? (double)right / (double)total : 0;
        }
        right_all += right;
        total_all += total;
    }
    return (double)right_all / (double)(total_all ? total_all : 1);
}

/* Runs one federated setting through a fresh hushd: its line (the caller
 * prints it), and per device the accuracies of device_accuracies (each
 * may be NULL). */
static json_t *federated(const fl_opts *o, const world *w, const setting *st,
                         double *acc_global, double *acc_own)
{
    sim_http h = {.c = curl_easy_init()};
    sim_server srv = {0};
    /* the server's DP noise from the run's seed: a benchmark row replays */
    char noise_seed[32];
    snprintf(noise_seed, sizeof noise_seed, "%llu", (unsigned long long)o->seed);
    const char *extra[] = {"--test-noise-seed", noise_seed, NULL};
    sim_start(&srv, o->hushd, o->out, extra, &h);
    sim_buf b = {0};
    uint8_t pk[32];
    sim_pin_key(&h, pk);
    size_t expected = (size_t)fmax(1, round(o->rate * (double)o->devices));
    json_t *arch = json_pack("{s:s}", "kind", hush_model_kind_name(o->model.kind));
    if (o->model.kind == HUSH_MODEL_MLP) {
        json_object_set_new(arch, "hidden", json_integer(o->model.hidden));
    }
    json_t *task = json_pack(
        "{s:s, s:s, s:o, s:o, s:[s, s], s:f, s:I, s:I, s:I, s:I, s:{s:i, "
        "s:i, s:f}, s:s, "
        "s:f, s:f, s:I}",
        "id", "spam", "name", "Spam filter (hush-sim)", "architecture", arch, "embedder",
        json_loads(w->embedder_desc, 0, NULL), "labels", "ham", "spam", "clip_norm",
        st->clip, "expected_clients", (json_int_t)expected, "population",
        (json_int_t)o->devices, "rounds", (json_int_t)o->rounds, "min_clients",
        (json_int_t)1, "local", "epochs", (int)o->local_epochs, "batch", 8, "lr",
        o->local_lr, "personalization", st->personalization, "ditto_lambda", 0.0,
        "local_noise_multiplier", st->local_noise, "seed", (json_int_t)o->seed);
    json_object_set_new(task, "server_lr", json_real(o->server_lr));
    json_object_set_new(task, "ditto_lambda", lambdas(o));
    if (st->secagg && st->noise > 0) { /* a given noise; epsilon as it comes */
        json_object_set_new(task, "noise_multiplier", json_real(st->noise));
        json_object_set_new(task, "target_epsilon", json_real(1e4));
        json_object_set_new(task, "delta", json_real(1e-5));
    } else if (st->target_eps > 0) {
        json_object_set_new(task, "target_epsilon", json_real(st->target_eps));
        json_object_set_new(task, "delta", json_real(1e-5));
    }
    if (st->secagg) {
        json_object_set_new(task, "dp", json_string("distributed"));
        json_object_set_new(task, "aggregation", json_string("secagg"));
        json_object_set_new(
            task, "secure_aggregation",
            json_pack(
                "{s:I, s:I, s:I, s:f, s:f, s:f}", "min_devices", (json_int_t)o->sa_min,
                "max_devices", (json_int_t)o->sa_max, "max_participations",
                (json_int_t)(o->sa_participations < o->rounds ? o->sa_participations
                                                              : o->rounds),
                "dropout", 0.0, "dishonest", 0.0, "stage_seconds", o->sa_stage_seconds));
    } else if (st->target_eps <= 0) {
        json_object_set_new(task, "dp", json_string("none"));
    }
    if (o->upload_set && st->target_eps > 0 && !st->secagg) {
        json_object_set_new(task, "upload",
                            o->upload_shift < 0
                                ? json_pack("{s:s}", "encoding", "float32")
                                : json_pack("{s:s, s:i}", "encoding", "lattice", "shift",
                                            o->upload_shift));
    }
    char *body = json_dumps(task, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(task);
    long status = sim_call(&h, "POST", "/v1/models", body, strlen(body), true, &b);
    free(body);
    if (status != 201) {
        sim_die("creating the task: HTTP %ld %s", status, b.p);
    }
    json_t *created = json_loads(b.p, 0, NULL);
    double z = json_real_value(json_object_get(created, "noise_multiplier"));
    json_decref(created);
    /* the devices */
    int64_t clock = 20000LL * DAY;
    char agents_dir[400];
    snprintf(agents_dir, sizeof agents_dir, "%s/agents", srv.dir);
    mkdir(agents_dir, 0700);
    hush_agent **agents = calloc(o->devices, sizeof *agents);
    hush_err err = {0};
    for (size_t d = 0; d < o->devices; d++) {
        char state[500];
        snprintf(state, sizeof state, "%s/%zu", agents_dir, d);
        uint8_t seed[32] = {0};
        hush_store_le64(seed, o->seed * 1000003 + d);
        hush_agent_config cfg = {.state_dir = state,
                                 .clock = fl_clock,
                                 .clock_ctx = &clock,
                                 .rng_seed = seed,
                                 .max_sample_bytes = 16u << 20};
        memcpy(cfg.collector_key, pk, 32);
        if (hush_agent_open(&cfg, &agents[d], &err) != 0) {
            sim_die("agent: %s", err.msg);
        }
    }
    for (size_t i = 0; i < w->n_held; i++) {
        const sim_held *e = &w->held[i];
        const char *text = w->mail[e->mail].text;
        if (!e->test && hush_agent_add_example(agents[e->device], text, strlen(text),
                                               e->label, &err) != 0) {
            sim_die("example: %s", err.msg);
        }
    }
    hush_transport *t = NULL;
    if (hush_transport_new(h.base, NULL, &t, &err) != 0) {
        sim_die("transport: %s", err.msg);
    }
    size_t updates = 0, rounds_done = 0, part_n = 0;
    double part_sum = 0, upload_bytes = 0;
    bool personal = strcmp(st->personalization, "none") != 0;
    hush_rng *coin = NULL; /* when the app allows a personal step */
    if (hush_rng_new_seeded_u64(o->seed + 13, &coin) != 0) {
        sim_die("rng");
    }
    double t0 = sim_now();
    hush_fl_model *model = NULL;
    for (size_t r = 0; r < o->rounds; r++) {
        long st_code = 0;
        char *pub = NULL, *sig = NULL, *resp = NULL;
        size_t len = 0;
        if (hush_transport_get(t, "/v1/models/spam", &st_code, &pub, &len, &sig, &err) !=
                0 ||
            st_code != 200) {
            sim_die("fetching the model: %s", err.msg);
        }
        hush_fl_model_free(model);
        model = NULL;
        if (hush_agent_accept_model(agents[0], "spam", pub, len, sig, &model, &err) !=
            0) {
            sim_die("accepting the model: %s", err.msg);
        }
        hush_free(pub);
        hush_free(sig);
        clock += DAY;
        size_t sent = 0, in_sample = 0;
        if (st->secagg) {
            /* devices not charged in a failed attempt try the next one */
            long got = SA_RETRY;
            for (int attempt = 0; attempt < 10 && got == SA_RETRY; attempt++) {
                char session[64];
                size_t sampled = 0;
                secagg_session(&h, &b, session, sizeof session);
                updates += secagg_round(agents, o->devices, model, t, &sampled);
                in_sample = attempt == 0 ? sampled : in_sample;
                got = secagg_wait(&h, &b, r + 1, session);
            }
            part_sum += (double)in_sample / (double)o->devices;
            part_n++;
            if (got == SA_OVER) {
                break; /* the task is over */
            }
            continue;
        }
        for (size_t d = 0; d < o->devices; d++) {
            char *upd = NULL;
            size_t ulen = 0;
            bool sampled = false;
            for (size_t k = 0; k < o->calls; k++) {
                char *doc = NULL;
                size_t dl = 0;
                hush_err_clear(&err);
                /* devices d with d mod 1000 < share x 1000 have the budget */
                bool small = (double)(d % 1000) < o->memory_share * 1000;
                hush_train_budget tb = {.max_memory_bytes = small ? o->memory_budget : 0};
                int rk = hush_agent_train_round(agents[d], model, &tb, &doc, &dl, &err);
                sampled = sampled || rk != HUSH_ENOTFOUND;
                if (rk == 0) {
                    if (upd != NULL) {
                        sim_die("device %zu sent twice in one round", d);
                    }
                    upd = doc;
                    ulen = dl;
                } else if (rk != HUSH_ENOTFOUND && rk != HUSH_ESTATE &&
                           !(rk == HUSH_EBUDGET && upd != NULL)) {
                    sim_die("device %zu, call %zu: %s", d, k + 1, err.msg);
                }
            }
            in_sample += sampled;
            /* not sampled: the personal model still learns when the app
             * allows (nothing leaves the device, nothing is charged) */
            if (!sampled && personal && hush_rng_unit(coin) < o->personal_rate) {
                hush_err_clear(&err);
                int rp = hush_agent_train_personal(agents[d], model, NULL, &err);
                if (rp != 0 && rp != HUSH_ESTATE) {
                    sim_die("device %zu, personal step: %s", d, err.msg);
                }
            }
            if (upd == NULL) {
                continue; /* not sampled this round, or no training examples */
            }
            if (hush_transport_post(t, "/v1/models/spam/updates", upd, ulen, &st_code,
                                    &resp, &err) != 0 ||
                st_code != 200) {
                sim_die("posting an update: HTTP %ld %s", st_code,
                        resp != NULL ? resp : err.msg);
            }
            hush_free(upd);
            hush_free(resp);
            resp = NULL;
            sent++;
            upload_bytes += (double)ulen;
        }
        updates += sent;
        part_sum += (double)in_sample / (double)o->devices;
        part_n++;
        status = sim_call(&h, "POST", "/v1/models/spam/rounds", "", 0, true, &b);
        if (status == 201) {
            rounds_done++;
            json_t *c = json_loads(b.p, 0, NULL);
            const char *state = json_string_value(json_object_get(c, "state"));
            bool over = state != NULL && strcmp(state, "running") != 0;
            json_decref(c);
            if (over) {
                break;
            }
        } else if (status != 409) {
            sim_die("closing a round: HTTP %ld %s", status, b.p);
        }
    }
    double seconds = sim_now() - t0;
    /* the final global model */
    long st_code = 0;
    char *pub = NULL, *sig = NULL;
    size_t len = 0;
    if (hush_transport_get(t, "/v1/models/spam", &st_code, &pub, &len, &sig, &err) != 0) {
        sim_die("fetching the model: %s", err.msg);
    }
    hush_fl_model_free(model);
    model = NULL;
    hush_model_pub *final = NULL;
    if (hush_agent_accept_model(agents[0], "spam", pub, len, sig, &model, &err) != 0 ||
        hush_model_pub_parse(pub, len, &final, &err) != 0) {
        sim_die("accepting the model: %s", err.msg);
    }
    hush_free(pub);
    hush_free(sig);
    /* accuracy: each device's test emails, with its own model when
     * personalized, else the global one */
    double accuracy =
        device_accuracies(o, w, agents, model, final->global, acc_global, acc_own);
    hush_model_pub_free(final);
    hush_rng_free(coin);
    sim_call(&h, "GET", "/v1/models/spam/privacy", NULL, 0, false, &b);
    json_t *priv = json_loads(b.p, 0, NULL);
    if (st->secagg) { /* given-up rounds complete nothing */
        rounds_done =
            (size_t)json_integer_value(json_object_get(priv, "rounds_completed"));
    }
    json_t *out = json_pack(
        "{s:s, s:s, s:f, s:I, s:I, s:I, s:f, s:f, s:I, s:f, s:f}", "bench", "fl",
        "setting", st->name, "accuracy", accuracy, "devices", (json_int_t)o->devices,
        "rounds", (json_int_t)rounds_done, "updates", (json_int_t)updates, "clip_norm",
        st->clip, "seconds", seconds, "calls_per_round", (json_int_t)o->calls,
        "participation", part_n > 0 ? part_sum / (double)part_n : 0.0, "sampling_rate",
        (double)(size_t)fmax(1, round(o->rate * (double)o->devices)) /
            (double)o->devices);
    if (updates > 0 && !st->secagg) {
        json_object_set_new(out, "bytes_per_update",
                            json_real(upload_bytes / (double)updates));
    }
    if (st->target_eps > 0) {
        json_object_set_new(out, "target_epsilon", json_real(st->target_eps));
        json_object_set_new(out, "delta", json_real(1e-5));
        json_object_set_new(out, "noise_multiplier", json_real(z));
        json_object_set(out, "epsilon_spent", json_object_get(priv, "epsilon"));
    }
    if (st->secagg) {
        json_object_set(out, "epsilon_at_most", json_object_get(priv, "epsilon_at_most"));
        json_object_set_new(out, "min_devices", json_integer((json_int_t)o->sa_min));
        json_object_set_new(out, "max_participations",
                            json_integer((json_int_t)o->sa_participations));
        json_object_set(out, "distributed", json_object_get(priv, "distributed"));
    }
    if (st->local_noise > 0) {
        json_object_set_new(out, "local_noise_multiplier", json_real(st->local_noise));
        json_object_set_new(out, "epsilon_per_update",
                            json_real(hush_local_dp_epsilon(st->local_noise, 1e-5)));
    }
    json_decref(priv);
    hush_fl_model_free(model);
    for (size_t d = 0; d < o->devices; d++) {
        hush_agent_close(agents[d]);
    }
    free(agents);
    hush_transport_free(t);
    free(b.p);
    sim_server_stop(&srv);
    curl_easy_cleanup(h.c);
    return out;
}

/* The server's DP aggregation of 1,000 updates of a 10,000-parameter model. */
static void aggregation(const fl_opts *o)
{
    enum { DIM = 10000, UPDATES = 1000, RUNS = 5 };
    hush_rng *rng = NULL;
    if (hush_rng_new_seeded_u64(o->seed, &rng) != 0) {
        sim_die("rng");
    }
    float *u = malloc((size_t)UPDATES * DIM * sizeof *u),
          *mean = malloc(DIM * sizeof *mean);
    for (size_t i = 0; i < (size_t)UPDATES * DIM; i++) {
        u[i] = (float)(hush_rng_unit(rng) - 0.5);
    }
    for (size_t k = 0; k < UPDATES; k++) {
        (void)hush_clip_l2(u + k * DIM, DIM, 1.0);
    }
    double ms[RUNS];
    for (int r = 0; r < RUNS; r++) {
        hush_fedavg *a = NULL;
        hush_fedavg_config cfg = {.dim = DIM,
                                  .clip = 1.0,
                                  .noise_multiplier = 1.0,
                                  .expected_clients = UPDATES};
        if (hush_fedavg_new(&cfg, &a, NULL) != 0) {
            sim_die("aggregator");
        }
        double t0 = sim_now();
        for (size_t k = 0; k < UPDATES; k++) {
            if (hush_fedavg_add(a, u + k * DIM, true, NULL) != 0) {
                sim_die("aggregating");
            }
        }
        if (hush_fedavg_finish(a, rng, mean, NULL, NULL) != 0) {
            sim_die("aggregating");
        }
        ms[r] = (sim_now() - t0) * 1e3;
        hush_fedavg_free(a);
    }
    for (int i = 1; i < RUNS; i++) { /* insertion sort for the median */
        for (int j = i; j > 0 && ms[j] < ms[j - 1]; j--) {
            double tmp = ms[j];
            ms[j] = ms[j - 1];
            ms[j - 1] = tmp;
        }
    }
    line(o, json_pack("{s:s, s:s, s:I, s:I, s:f, s:f, s:f}", "bench", "fl", "setting",
                      "aggregate", "updates", (json_int_t)UPDATES, "parameters",
                      (json_int_t)DIM, "noise_multiplier", 1.0, "ms", ms[RUNS / 2],
                      "ms_min", ms[0]));
    free(u);
    free(mean);
    hush_rng_free(rng);
}

/* --model: "logistic" or "mlp:H" (H hidden units). */
static void parse_model(const char *v, hush_model_spec *m)
{
    char *end = NULL;
    if (strcmp(v, "logistic") == 0) {
        m->kind = HUSH_MODEL_LOGISTIC;
        m->hidden = 0;
        return;
    }
    if (strncmp(v, "mlp:", 4) == 0) {
        m->kind = HUSH_MODEL_MLP;
        m->hidden = (uint32_t)strtoul(v + 4, &end, 10);
        if (end != v + 4 && *end == '\0' && m->hidden >= 1) {
            return;
        }
    }
    sim_die("--model is logistic or mlp:H (H hidden units), not \"%s\"", v);
}

/* The settings of the benchmark before the splits, on the old deal. */
static void classic(const fl_opts *o, const world *w)
{
    if (!o->json) {
        size_t n_test = 0;
        for (size_t i = 0; i < w->n_held; i++) {
            n_test += w->held[i].test;
        }
        printf("hush-sim fl: %zu emails on %zu devices (%zu training, %zu test), %zu "
               "rounds, q = %g\n",
               w->n, o->devices, w->n_held - n_test, n_test, o->rounds, o->rate);
    }
    if (wanted(o, "centralized")) {
        line(o, json_pack("{s:s, s:s, s:f}", "bench", "fl", "setting", "centralized",
                          "accuracy", centralized(o, w)));
    }
    setting plain = {"fedavg", "none", 0, 100.0, 0, false, 0};
    if (wanted(o, "fedavg")) {
        line(o, federated(o, w, &plain, NULL, NULL));
    }
    setting personal = {"personalized", "ditto", 0, 100.0, 0, false, 0};
    if (wanted(o, "personalized")) {
        line(o, federated(o, w, &personal, NULL, NULL));
    }
    for (size_t i = 0; i < o->n_eps && wanted(o, "secagg-dp"); i++) {
        setting sa = {"secagg-dp", "none", o->eps[i], o->dp_clip, 0, true, 0};
        line(o, federated(o, w, &sa, NULL, NULL));
    }
    for (size_t i = 0; i < o->n_sa_noise && wanted(o, "secagg-matched"); i++) {
        setting sa = {"secagg-matched", "none", 0, o->dp_clip, 0, true, o->sa_noise[i]};
        line(o, federated(o, w, &sa, NULL, NULL));
    }
    for (size_t i = 0; i < o->n_eps && wanted(o, "dp-fedavg"); i++) {
        setting dp = {"dp-fedavg", "none", o->eps[i], o->dp_clip, 0, false, 0};
        line(o, federated(o, w, &dp, NULL, NULL));
    }
    /* local DP: the noise multiplier that gives each update epsilon 8 */
    double lo = 0.1, hi = 100;
    for (int i = 0; i < 60; i++) {
        double mid = 0.5 * (lo + hi);
        if (hush_local_dp_epsilon(mid, 1e-5) > 8) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    setting ldp = {"local-dp", "none", 0, o->dp_clip, hi, false, 0};
    if (wanted(o, "local-dp")) {
        line(o, federated(o, w, &ldp, NULL, NULL));
    }
    if (wanted(o, "aggregate")) {
        aggregation(o);
    }
}

/* One row of the personalization benchmark: the setting's mean per-device
 * accuracy and, against `base` (may be NULL), the paired gain.  `run` (may
 * be NULL) is the setting's hushd run, whose counts are carried over. */
static void personal_row(const fl_opts *o, const char *name, double eps,
                         const double *acc, const double *base, const json_t *run)
{
    sim_paired p;
    sim_paired_gain(acc, base != NULL ? base : acc, o->devices, &p);
    json_t *row =
        json_pack("{s:s, s:s, s:s, s:I, s:s}", "bench", "fl", "split", o->split_name,
                  "model", o->model_name, "seed", (json_int_t)o->seed, "setting", name);
    if (eps > 0) {
        json_object_set_new(row, "epsilon", json_real(eps));
    }
    json_object_set_new(row, "accuracy", json_real(p.accuracy));
    if (base != NULL) {
        json_object_set_new(row, "gain", json_real(p.gain));
        json_object_set_new(row, "gain_ci_low", json_real(p.ci_low));
        json_object_set_new(row, "gain_ci_high", json_real(p.ci_high));
        json_object_set_new(row, "worse_share", json_real(p.worse_share));
    }
    json_object_set_new(row, "devices", json_integer((json_int_t)o->devices));
    json_object_set_new(row, "test_per_device",
                        json_integer((json_int_t)o->split.test_per_device));
    static const char *carried[] = {"rounds",        "updates",          "seconds",
                                    "epsilon_spent", "noise_multiplier", "ditto_lambda"};
    for (size_t i = 0; run != NULL && i < sizeof carried / sizeof carried[0]; i++) {
        json_t *v = json_object_get(run, carried[i]);
        if (v != NULL) {
            json_object_set(row, carried[i], v);
        }
    }
    line(o, row);
}

/*
 * The personalization benchmark on a drawn split: per device, on its own
 * test emails, the global FedAvg model and Ditto's personal models (one
 * run: Ditto leaves the global training as FedAvg's), FedPer (its own
 * run; an MLP only: logistic regression has no body to share), local-only
 * training, and DP-FedAvg at each epsilon; gains are paired against the
 * global model on the same devices (DP-FedAvg's: against the non-private
 * global model).
 */
static void personalization(const fl_opts *o, const world *w)
{
    double *global = calloc(o->devices, sizeof *global),
           *own = calloc(o->devices, sizeof *own);
    if (global == NULL || own == NULL) {
        sim_die("out of memory");
    }
    if (wanted(o, "centralized")) {
        json_t *row =
            json_pack("{s:s, s:s, s:s, s:I, s:s, s:f}", "bench", "fl", "split",
                      o->split_name, "model", o->model_name, "seed", (json_int_t)o->seed,
                      "setting", "centralized", "accuracy", centralized(o, w));
        line(o, row);
    }
    if (wanted(o, "majority")) { /* the no-signal control: no text read */
        majority_label(o, w, own);
        personal_row(o, "majority", 0, own, NULL, NULL);
    }
    if (o->only != NULL && strcmp(o->only, "majority") == 0) {
        free(global);
        free(own);
        return;
    }
    setting ditto = {"ditto", "ditto", 0, 100.0, 0, false, 0};
    json_t *run = federated(o, w, &ditto, global, own);
    json_object_set_new(run, "ditto_lambda", lambdas(o));
    if (wanted(o, "fedavg")) {
        personal_row(o, "fedavg", 0, global, NULL, run);
    }
    if (wanted(o, "ditto")) {
        personal_row(o, "ditto", 0, own, global, run);
    }
    json_decref(run);
    if (wanted(o, "fedper") && o->model.kind == HUSH_MODEL_MLP) {
        setting fedper = {"fedper", "fedper", 0, 100.0, 0, false, 0};
        run = federated(o, w, &fedper, NULL, own);
        personal_row(o, "fedper", 0, own, global, run);
        json_decref(run);
    }
    if (wanted(o, "local")) {
        local_only(o, w, own);
        personal_row(o, "local", 0, own, global, NULL);
    }
    for (size_t i = 0; i < o->n_eps && wanted(o, "dp-fedavg"); i++) {
        setting dp = {"dp-fedavg", "none", o->eps[i], o->dp_clip, 0, false, 0};
        run = federated(o, w, &dp, own, NULL);
        personal_row(o, "dp-fedavg", o->eps[i], own, global, run);
        json_decref(run);
    }
    free(global);
    free(own);
}

int sim_fl_main(int argc, char **argv, const char *hushd)
{
    fl_opts o = {
        .corpus = "data/spamassassin.jsonl",
        .hushd = hushd,
        .out = "hush-sim-out",
        .devices = 1000,
        .rounds = 60,
        .rate = 0.1,
        .eps = {1, 4, 8},
        .n_eps = 3,
        .seed = 1,
        .dp_clip = 2.0,
        .server_lr = 2.0,
        .local_lr = 3.0,
        .local_epochs = 10,
        .calls = 1,
        .sa_min = 60,
        .sa_max = 200,
        .sa_participations = 10,
        .sa_stage_seconds = 1,
        .split = {.kind = SIM_SPLIT_DEAL, .train_per_device = 10, .test_per_device = 10},
        .model = {.kind = HUSH_MODEL_LOGISTIC, .classes = 2},
        .ditto_lambda = {0.1},
        .n_ditto_lambda = 1,
        .personal_rate = 1,
        .local_only_epochs = 100,
        .memory_share = 1};
    hush_err err = {0};
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (strcmp(f, "--json") == 0) {
            o.json = true;
            continue;
        }
        if (i + 1 >= argc) {
            sim_die(
                "usage: hush-sim fl [--corpus FILE] [--devices N] [--rounds R] [--rate "
                "Q] "
                "[--epsilon LIST] [--seed S] [--calls K] [--out DIR] [--hushd PATH] "
                "[--json] [--only SETTINGS] [--split iid|label-skew:A|preference:S] "
                "[--model logistic|mlp:H] [--ditto-lambda L[,L...]] [--train-emails N] "
                "[--test-emails N] [--personal-rate P] [--local-only-epochs E] "
                "[--upload float32|lattice:S] [--memory-budget BYTES] "
                "[--memory-share P] (sim/fl.c says what each does)");
        }
        const char *v = argv[++i];
        char *end = (char *)""; /* numbers set it to where parsing stopped */
        if (strcmp(f, "--corpus") == 0) {
            o.corpus = v;
        } else if (strcmp(f, "--out") == 0) {
            o.out = v;
        } else if (strcmp(f, "--hushd") == 0) {
            o.hushd = v;
        } else if (strcmp(f, "--devices") == 0) {
            o.devices = strtoul(v, &end, 10);
        } else if (strcmp(f, "--rounds") == 0) {
            o.rounds = strtoul(v, &end, 10);
        } else if (strcmp(f, "--seed") == 0) {
            o.seed = strtoull(v, &end, 10);
        } else if (strcmp(f, "--rate") == 0) {
            o.rate = strtod(v, &end);
        } else if (strcmp(f, "--dp-clip") == 0) {
            o.dp_clip = strtod(v, &end);
        } else if (strcmp(f, "--server-lr") == 0) {
            o.server_lr = strtod(v, &end);
        } else if (strcmp(f, "--local-lr") == 0) {
            o.local_lr = strtod(v, &end);
        } else if (strcmp(f, "--local-epochs") == 0) {
            o.local_epochs = (uint32_t)strtoul(v, &end, 10);
        } else if (strcmp(f, "--only") == 0) {
            o.only = v;
        } else if (strcmp(f, "--split") == 0) {
            if (sim_split_parse(v, &o.split, &err) != 0) {
                sim_die("--split: %s", err.msg);
            }
        } else if (strcmp(f, "--model") == 0) {
            parse_model(v, &o.model);
        } else if (strcmp(f, "--memory-share") == 0) {
            o.memory_share = strtod(v, &end);
        } else if (strcmp(f, "--memory-budget") == 0) {
            o.memory_budget = strtoul(v, &end, 10);
        } else if (strcmp(f, "--upload") == 0) {
            o.upload_set = true;
            o.upload_shift = strcmp(v, "float32") == 0 ? -1 : 0;
            if (strncmp(v, "lattice:", 8) == 0) {
                o.upload_shift = (int)strtol(v + 8, &end, 10);
            } else if (strcmp(v, "float32") != 0) {
                sim_die("--upload is float32 or lattice:SHIFT");
            }
        } else if (strcmp(f, "--ditto-lambda") == 0) {
            o.n_ditto_lambda = number_list(f, v, o.ditto_lambda);
            end = (char *)"";
        } else if (strcmp(f, "--personal-rate") == 0) {
            o.personal_rate = strtod(v, &end);
        } else if (strcmp(f, "--train-emails") == 0) {
            o.split.train_per_device = strtoul(v, &end, 10);
        } else if (strcmp(f, "--test-emails") == 0) {
            o.split.test_per_device = strtoul(v, &end, 10);
        } else if (strcmp(f, "--local-only-epochs") == 0) {
            o.local_only_epochs = (uint32_t)strtoul(v, &end, 10);
        } else if (strcmp(f, "--sa-min-devices") == 0) {
            o.sa_min = strtoul(v, &end, 10);
        } else if (strcmp(f, "--sa-max-devices") == 0) {
            o.sa_max = strtoul(v, &end, 10);
        } else if (strcmp(f, "--sa-noise-multiplier") == 0) {
            o.n_sa_noise = number_list(f, v, o.sa_noise);
            end = (char *)"";
        } else if (strcmp(f, "--sa-stage-seconds") == 0) {
            o.sa_stage_seconds = strtod(v, &end);
        } else if (strcmp(f, "--sa-participations") == 0) {
            o.sa_participations = strtoul(v, &end, 10);
        } else if (strcmp(f, "--calls") == 0) {
            o.calls = strtoul(v, &end, 10);
        } else if (strcmp(f, "--epsilon") == 0) {
            o.n_eps = number_list(f, v, o.eps);
            end = (char *)"";
        } else {
            sim_die("unknown option %s", f);
        }
        if (*end != '\0' || (end == v && *v != '\0')) {
            sim_die("%s: bad value \"%s\"", f, v);
        }
    }
    if (o.devices < 2 || o.rounds < 1 || !(o.rate > 0 && o.rate <= 1) || o.calls < 1 ||
        o.calls > 1000) {
        sim_die(
            "need --devices >= 2, --rounds >= 1, --rate in (0, 1], --calls in [1, 1000]");
    }
    if (o.split.train_per_device < 1 || o.split.test_per_device < 1 ||
        o.split.train_per_device + o.split.test_per_device > 10000 ||
        !(o.personal_rate >= 0 && o.personal_rate <= 1) || o.n_ditto_lambda < 1) {
        sim_die("need --train-emails and --test-emails >= 1, --personal-rate in [0, 1], "
                "--ditto-lambda >= 0");
    }
    sim_split_name(&o.split, o.split_name, sizeof o.split_name);
    if (o.model.kind == HUSH_MODEL_MLP) {
        snprintf(o.model_name, sizeof o.model_name, "mlp:%u", o.model.hidden);
    } else {
        snprintf(o.model_name, sizeof o.model_name, "logistic");
    }
    mkdir(o.out, 0755);
    char *out_abs = realpath(o.out, NULL);
    if (out_abs == NULL) {
        sim_die("cannot use %s", o.out);
    }
    o.out = out_abs;
    world w = {0};
    hush_rng *rng = NULL;
    if (hush_rng_new_seeded_u64(o.seed, &rng) != 0 ||
        hush_embedder_new_default(256, o.seed, &w.embedder, &err) != 0 ||
        hush_embedder_describe(w.embedder, &w.embedder_desc, &err) != 0) {
        sim_die("setup: %s", err.msg);
    }
    o.model.inputs = hush_embedder_dim(w.embedder);
    if (hush_model_spec_check(&o.model, &err) != 0) {
        sim_die("--model: %s", err.msg);
    }
    load(&o, &w);
    embed_world(&w);
    deal(&o, &w, rng);
    if (o.split.kind == SIM_SPLIT_DEAL) {
        classic(&o, &w);
    } else {
        personalization(&o, &w);
    }
    for (size_t i = 0; i < w.n; i++) {
        free(w.mail[i].text);
    }
    free(w.mail);
    free(w.x);
    free(w.usable);
    free(w.held);
    free(w.order);
    free(w.first);
    hush_free(w.embedder_desc);
    hush_embedder_free(w.embedder);
    hush_rng_free(rng);
    free(out_abs);
    return 0;
}
