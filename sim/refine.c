/*
 * hush-sim - the synthetic-data loop, end to end, on real emails.
 *
 *   hush-sim [--corpus data/spamassassin.jsonl] [--hushd build/bin/hushd]
 *            [--devices 100000] [--candidates 1000] [--rounds 5]
 *            [--epsilon 1,2,4,8,inf] [--private easy-ham] [--initial spam]
 *            [--emails-per-device 3] [--keep 0.2] [--dim 256] [--seed 1]
 *            [--real-devices 200] [--out DIR] [--json] [--no-plot]
 *            [--generator builtin|retrieval|external --generator-cmd CMD]
 *            [--embedder sif|hashed] [--word-vectors data/glove-sif-50k.hsif]
 *            [--common pool|table]
 *
 * A population of devices holds real emails of the private groups (each a
 * few, drawn from one half of them; the other half is held out for the
 * oracle).  The synthetic set starts from sentences of other groups (spam by
 * default), never from the private emails.  For each epsilon a real hushd
 * runs R rounds: the devices fetch the signed round, match their emails to
 * the nearest synthetic sample and send randomized votes over HTTP; hushd
 * closes the round, keeps the most voted samples, generates variations and
 * publishes the next round.  --real-devices of the devices go through the
 * whole device library (hush_agent: budget ledger, signature check,
 * embedding, matching) and its curl transport; the others are simulated in
 * process with the same embedder, the same int8 matrix and the same
 * mechanism, for speed, and their reports are posted over HTTP too.
 * Epsilon "inf" is the same loop with exact votes: GRR at epsilon 30, where
 * a report differs from the true vote with probability (d-1)/(e^30+d-1),
 * about 1e-10 for d = 1001.
 *
 * The simulator alone sees the private emails, and after every round it
 * measures the synthetic set against them in a space the loop does not
 * optimize (sim/metrics.h): TF-IDF reduced to 100 dimensions by SVD,
 * fitted on the corpus's emails that are neither private nor held out (the
 * other groups).  Per round:
 *   fd          Frechet distance to the private emails; fd_oracle that of
 *               held-out real emails of the private groups (as many as the
 *               set has samples);
 *   gap         (fd_0 - fd_r) / (fd_0 - fd_oracle): the share of the way
 *               from the initial set to real emails;
 *   fd_judge2   the same distance in a second space, fitted on the held-out
 *               emails (gap_judge2 likewise);
 *   ncov        share of private emails whose own 3-NN ball holds a
 *               synthetic sample (Naeem et al. 2020);
 *   precision   share of synthetic samples in some private email's 3-NN
 *               ball (Kynkaenniemi et al. 2019);
 *   ovl         sum over 20 k-means clusters of the private emails of
 *               min(synthetic share, private share);
 *   auc         cross-validated AUC of a classifier telling the set from
 *               the private emails (0.5: indistinguishable);
 *   words       mean words per text (words_private: the private emails');
 *   pairwise    mean pairwise cosine in the set, twins the share of texts
 *               with a near-twin (cosine > 0.9);
 *   coverage    hush's own: mean cosine, in the campaign's embedding, of
 *               each private email to its nearest synthetic sample (the
 *               quantity the votes optimize; reported, not judged by);
 *   lineages    how many initial samples still have a descendant in the
 *               set (from the round history's lineage; -1 when unknown).
 * Two controls with no private signal run beside the loop (unless
 * --no-controls): "shuffled-votes", the same loop whose round closes select
 * by a random permutation of the vote counts (hushd's "votes": "shuffled"),
 * and "concat", concatenations of public sentences matched in length to
 * each round's synthetic texts.  info = fd of the shuffled-votes control -
 * fd of the loop at the same round.
 *
 * Output: a progress bar on a terminal, one line per round (a table, or
 * with --json one JSON object per line, {"bench":"refine",...}), a CSV
 * (DIR/refine.csv), and a plot (DIR/refine.png, DIR/refine.svg, gnuplot).
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hush_device.h"
#include "hush_embed.h"
#include "hush_privacy.h"
#include "hush_protocol.h"
#include "hush_transport.h"
#include "metrics.h"
#include "sim.h"

extern char **environ;

#define KNN 3
#define MAX_EPS 8
#define DAY 86400

typedef struct opts {
    const char *corpus, *hushd, *out, *private_prefix, *initial_prefix;
    const char *generator, *generator_cmd, *selection;
    const char *embedder, *word_vectors;
    size_t devices, candidates, rounds, emails_per_device, real_devices;
    double keep;
    double eps[MAX_EPS];
    size_t n_eps;
    uint32_t dim;
    uint64_t seed;
    bool json, plot, progress, controls;
    bool common_from_pool; /* sif: fit the common component on the public pool */
} opts;

/* ---- data ---------------------------------------------------------------- */

/* A whole file (malloc'd), or NULL. */
static char *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    char *data = NULL;
    size_t cap = 0, n = 0, got;
    do {
        if (n == cap) {
            cap = cap ? 2 * cap : (size_t)1 << 20;
            char *g = realloc(data, cap);
            if (g == NULL) {
                free(data);
                fclose(f);
                return NULL;
            }
            data = g;
        }
        got = fread(data + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    *len = n;
    return data;
}

/* Fisher-Yates with the simulation's generator. */
static void shuffle(char **v, size_t n, hush_rng *rng)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)hush_rng_uniform(rng, i);
        char *t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

static size_t words_in(const char *s, size_t len)
{
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        w += (i == 0 || s[i - 1] == ' ') && s[i] != ' ';
    }
    return w;
}

/* Sentences of 5 to 60 words (at most 300 bytes) from a text. */
static void sentences_of(const char *t, sim_texts *out)
{
    size_t len = strlen(t), start = 0;
    for (size_t i = 0; i <= len; i++) {
        bool end = i == len || t[i] == '\n' ||
                   ((t[i] == '.' || t[i] == '!' || t[i] == '?') && i + 1 < len &&
                    t[i + 1] == ' ');
        if (!end) {
            continue;
        }
        size_t stop = i < len && t[i] != '\n' ? i + 1 : i, a = start;
        while (a < stop && (t[a] == ' ' || t[a] == '\t' || t[a] == '>')) {
            a++;
        }
        size_t n = stop - a, w = words_in(t + a, n);
        if (n <= 300 && w >= 5 && w <= 60) {
            sim_texts_push(out, t + a, n);
        }
        start = stop;
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_corpus(const opts *o, sim_texts *private_, sim_texts *initial,
                        sim_texts *others, sim_texts *public_docs, hush_rng *rng)
{
    FILE *f = fopen(o->corpus, "r");
    if (f == NULL) {
        sim_die("%s is missing: run scripts/fetch-corpus first", o->corpus);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    sim_texts init_sent = {0};
    while ((got = getline(&line, &cap, f)) > 0) {
        json_t *doc = json_loadb(line, (size_t)got, 0, NULL);
        const char *group = json_string_value(json_object_get(doc, "group"));
        const json_t *t = json_object_get(doc, "text");
        if (group != NULL && json_is_string(t)) {
            if (strncmp(group, o->private_prefix, strlen(o->private_prefix)) == 0) {
                if (json_string_length(t) > 0) {
                    sim_texts_push(private_, json_string_value(t), json_string_length(t));
                }
            } else {
                /* neither private nor held out: what the judge's space is
                 * fitted on */
                if (json_string_length(t) > 0) {
                    sim_texts_push(others, json_string_value(t), json_string_length(t));
                }
                if (strncmp(group, o->initial_prefix, strlen(o->initial_prefix)) == 0) {
                    sentences_of(json_string_value(t), &init_sent);
                    if (json_string_length(t) > 0) {
                        sim_texts_push(public_docs, json_string_value(t),
                                       json_string_length(t));
                    }
                }
            }
        }
        json_decref(doc);
    }
    free(line);
    fclose(f);
    if (private_->n < 20) {
        sim_die("the corpus has %zu emails in groups %s*", private_->n,
                o->private_prefix);
    }
    /* distinct initial sentences, in a seeded order */
    qsort(init_sent.v, init_sent.n, sizeof *init_sent.v, cmp_str);
    for (size_t i = 0; i < init_sent.n; i++) {
        if (i == 0 || strcmp(init_sent.v[i - 1], init_sent.v[i]) != 0) {
            sim_texts_push(initial, init_sent.v[i], strlen(init_sent.v[i]));
        }
    }
    sim_texts_free(&init_sent);
    shuffle(initial->v, initial->n, rng);
    shuffle(private_->v, private_->n, rng);
}

/* ---- float embeddings and the quality metrics ---------------------------- */

typedef struct fmat {
    float *v; /* n rows of dim, L2-normalized (or zero) */
    size_t n;
    uint32_t dim;
} fmat;

static void embed_all(const hush_embedder *e, char *const *t, size_t n, fmat *m)
{
    m->dim = hush_embedder_dim(e);
    m->n = n;
    m->v = calloc(n * m->dim + 1, sizeof *m->v);
    if (m->v == NULL) {
        sim_die("out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        hush_err err = {0};
        int rc = hush_embed_text(e, t[i], strlen(t[i]), m->v + i * m->dim, m->dim, &err);
        if (rc != 0 && rc != HUSH_EINVAL) {
            sim_die("embedding: %s", err.msg);
        }
    }
}

/* out[i * b->n + j] = a_i . b_j */
static void dots(const fmat *a, const fmat *b, float *out)
{
    const uint32_t d = a->dim;
    for (size_t i = 0; i < a->n; i++) {
        const float *x = a->v + i * d;
        for (size_t j = 0; j < b->n; j++) {
            const float *y = b->v + j * d;
            float s = 0;
            for (uint32_t k = 0; k < d; k++) {
                s += x[k] * y[k];
            }
            out[i * b->n + j] = s;
        }
    }
}

/* The k-th largest of row (excluding index `self`). */
static float kth_largest(const float *row, size_t n, size_t self, unsigned k)
{
    float top[KNN + 1] = {0};
    unsigned have = 0;
    for (size_t j = 0; j < n; j++) {
        if (j == self) {
            continue;
        }
        float v = row[j];
        if (have < k) {
            unsigned p = have++;
            while (p > 0 && top[p - 1] < v) {
                top[p] = top[p - 1];
                p--;
            }
            top[p] = v;
        } else if (v > top[k - 1]) {
            unsigned p = k - 1;
            while (p > 0 && top[p - 1] < v) {
                top[p] = top[p - 1];
                p--;
            }
            top[p] = v;
        }
    }
    return have < k ? -1.0f : top[k - 1];
}

typedef struct quality {
    double coverage, precision, recall;
} quality;

/* P: private, with its k-NN similarity thresholds p_knn. */
static quality measure(const fmat *P, const float *p_knn, const fmat *S)
{
    quality q = {0};
    float *ps = malloc(P->n * S->n * sizeof *ps + 1);
    float *ss = malloc(S->n * S->n * sizeof *ss + 1);
    float *s_knn = malloc(S->n * sizeof *s_knn + 1);
    if (ps == NULL || ss == NULL || s_knn == NULL) {
        sim_die("out of memory");
    }
    dots(P, S, ps);
    dots(S, S, ss);
    for (size_t j = 0; j < S->n; j++) {
        s_knn[j] = kth_largest(ss + j * S->n, S->n, j, KNN);
    }
    size_t s_in = 0, p_in = 0;
    double cov = 0;
    for (size_t i = 0; i < P->n; i++) {
        float best = -1;
        bool inside = false;
        for (size_t j = 0; j < S->n; j++) {
            float v = ps[i * S->n + j];
            best = v > best ? v : best;
            /* within a synthetic sample's ball: similarity >= its k-th */
            inside = inside || v >= s_knn[j];
        }
        cov += best;
        p_in += inside;
    }
    for (size_t j = 0; j < S->n; j++) {
        bool inside = false;
        for (size_t i = 0; i < P->n && !inside; i++) {
            inside = ps[i * S->n + j] >= p_knn[i];
        }
        s_in += inside;
    }
    q.coverage = cov / (double)P->n;
    q.precision = (double)s_in / (double)S->n;
    q.recall = (double)p_in / (double)P->n;
    free(ps);
    free(ss);
    free(s_knn);
    return q;
}

/* ---- the progress bar -------------------------------------------------- */

static void progress(const opts *o, const char *eps, size_t round, size_t rounds,
                     double frac, const char *what)
{
    if (!o->progress) {
        return;
    }
    int width = 30, fill = (int)(frac * width + 0.5);
    fprintf(stderr, "\r  eps %-4s round %zu/%zu [", eps, round, rounds);
    for (int i = 0; i < width; i++) {
        fputs(i < fill ? "#" : ".", stderr);
    }
    fprintf(stderr, "] %-24s", what);
    fflush(stderr);
}

/* ---- one run: one epsilon ------------------------------------------------ */

typedef struct world {
    sim_texts device_emails; /* the half devices hold */
    sim_texts oracle_emails;
    sim_texts initial;
    uint32_t *holds; /* devices x emails_per_device indices into device_emails */
    fmat P;          /* device_emails embedded (float) */
    float *p_knn;
    double oracle_coverage;
    hush_embedder *embedder;
    char *embedder_desc;
    hush_wordvec *wordvec; /* the SIF table (--embedder sif) */
    char wordvec_path[4096];
    /* the judges: spaces the loop does not optimize */
    sim_texts public_sentences; /* every initial-group sentence: the concat pool */
    sim_space *eval, *judge2;
    double *pe, *pj; /* device emails in each space */
    /* what every measurement compares against, computed once: the private
     * emails' moments in both spaces and their 3-NN radii */
    double *pe_mean, *pe_cov, *pj_mean, *pj_cov, *pe_radii;
    double *centroids;
    double fd_oracle, fd_oracle_j, words_private;
    const char *split;
} world;

#define EVAL_DIMS 100
#define EVAL_VOCAB 20000
#define CLUSTERS 20

typedef struct judged {
    double fd, fd_j, ncov, precision, ovl, auc, words, pairwise, twins, coverage;
} judged;

/* Rows of n sim_texts in a space (new, free). */
static double *embed_space(const sim_space *sp, char *const *t, size_t n)
{
    uint32_t d = sim_space_dims(sp);
    double *x = malloc((n * d + 1) * sizeof *x);
    if (x == NULL) {
        sim_die("out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        sim_space_embed(sp, t[i], x + i * d);
    }
    return x;
}

/* Every measure of a set of sim_texts against the private emails. */
static void judge_set(const world *w, char *const *t, size_t n, uint64_t seed,
                      judged *out)
{
    uint32_t d = sim_space_dims(w->eval), dj = sim_space_dims(w->judge2);
    double *se = embed_space(w->eval, t, n), *sj = embed_space(w->judge2, t, n);
    size_t np = w->device_emails.n;
    hush_rng *rng = NULL;
    if (hush_rng_new_seeded_u64(seed, &rng) != 0 ||
        sim_frechet_to(se, n, d, w->pe_mean, w->pe_cov, &out->fd) != 0 ||
        sim_frechet_to(sj, n, dj, w->pj_mean, w->pj_cov, &out->fd_j) != 0 ||
        sim_c2st_auc(se, n, w->pe, np, d, 5, rng, &out->auc) != 0 ||
        sim_pairwise(se, n, d, 0.9, &out->pairwise, &out->twins) != 0) {
        sim_die("out of memory measuring");
    }
    out->ncov = sim_ncov(w->pe, w->pe_radii, np, se, n, d);
    out->precision = sim_precision(w->pe, w->pe_radii, np, se, n, d);
    out->ovl = sim_ovl(w->pe, np, se, n, d, w->centroids, CLUSTERS);
    double words = 0;
    for (size_t i = 0; i < n; i++) {
        words += (double)sim_words(t[i]);
    }
    out->words = n > 0 ? words / (double)n : 0;
    fmat S;
    embed_all(w->embedder, t, n, &S);
    out->coverage = measure(&w->P, w->p_knn, &S).coverage;
    free(S.v);
    free(se);
    free(sj);
    hush_rng_free(rng);
}

/* Length-matched concatenations of public sentences: for each text of the
 * set, sentences drawn at random until as many words (new sim_texts). */
static sim_texts concat_control(const world *w, char *const *t, size_t n, hush_rng *rng)
{
    sim_texts out = {0};
    for (size_t i = 0; i < n; i++) {
        size_t want = sim_words(t[i]), have = 0;
        char *acc = NULL;
        size_t len = 0;
        while (have < want || acc == NULL) {
            const char *sent =
                w->public_sentences.v[hush_rng_uniform(rng, w->public_sentences.n)];
            size_t sl = strlen(sent);
            char *g = realloc(acc, len + sl + 2);
            if (g == NULL) {
                sim_die("out of memory");
            }
            acc = g;
            if (len > 0) {
                acc[len++] = ' ';
            }
            memcpy(acc + len, sent, sl + 1);
            len += sl;
            have += sim_words(sent);
        }
        sim_texts_push(&out, acc, len);
        free(acc);
    }
    return out;
}

static int64_t sim_clock(void *ctx)
{
    return *(const int64_t *)ctx;
}

static void eps_name(double eps, char *out, size_t cap)
{
    if (isinf(eps)) {
        snprintf(out, cap, "inf");
    } else {
        snprintf(out, cap, "%g", eps);
    }
}

typedef struct row {
    double eps;
    const char *control;
    size_t round;
    judged j;
    double gap, gap_j, info; /* info: NAN when there is no control */
    long lineages;           /* initial samples with a descendant; -1: unknown */
    uint64_t n_reports;
    long kept, generated;
} row;

static void emit(const opts *o, const world *w, const row *r, FILE *csv)
{
    char en[16], info[32];
    eps_name(r->eps, en, sizeof en);
    if (isnan(r->info)) {
        snprintf(info, sizeof info, "null");
    } else {
        snprintf(info, sizeof info, "%.4f", r->info);
    }
    if (o->progress) {
        fputs("\r\033[K", stderr);
    }
    if (o->json) {
        printf("{\"bench\":\"refine\",\"split\":\"%s\",\"seed\":%llu,\"epsilon\":%s%s%s,"
               "\"control\":\"%s\",\"round\":%zu,\"fd\":%.4f,\"fd_oracle\":%.4f,"
               "\"gap\":%.4f,\"fd_judge2\":%.4f,\"gap_judge2\":%.4f,\"ncov\":%.4f,"
               "\"ovl\":%.4f,\"precision\":%.4f,\"auc\":%.4f,\"words\":%.1f,"
               "\"words_private\":%.1f,\"pairwise\":%.4f,\"twins\":%.4f,"
               "\"coverage\":%.4f,\"info\":%s,\"lineages\":%ld,\"devices\":%zu,"
               "\"candidates\":%zu}\n",
               w->split, (unsigned long long)o->seed, isinf(r->eps) ? "\"" : "", en,
               isinf(r->eps) ? "\"" : "", r->control, r->round, r->j.fd, w->fd_oracle,
               r->gap, r->j.fd_j, r->gap_j, r->j.ncov, r->j.ovl, r->j.precision, r->j.auc,
               r->j.words, w->words_private, r->j.pairwise, r->j.twins, r->j.coverage,
               info, r->lineages, o->devices, o->candidates);
    } else {
        printf("  eps %-4s %-14s round %zu  fd %.3f (oracle %.3f)  gap %6.1f%%  judge2 "
               "%6.1f%%  ncov %.3f  ovl %.2f  auc %.3f  words %5.1f  pairwise %.2f  "
               "info %s\n",
               en, r->control, r->round, r->j.fd, w->fd_oracle, 100 * r->gap,
               100 * r->gap_j, r->j.ncov, r->j.ovl, r->j.auc, r->j.words, r->j.pairwise,
               info);
    }
    fflush(stdout);
    fprintf(csv,
            "%s,%s,%zu,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.2f,%.2f,%.6f,%.6f,"
            "%.6f,%s,%llu,%ld,%ld,%ld\n",
            en, r->control, r->round, r->j.fd, w->fd_oracle, r->gap, r->j.fd_j, r->gap_j,
            r->j.ncov, r->j.ovl, r->j.precision, r->j.auc, r->j.words, w->words_private,
            r->j.pairwise, r->j.twins, r->j.coverage, isnan(r->info) ? "" : info,
            (unsigned long long)r->n_reports, r->kept, r->generated, r->lineages);
    fflush(csv);
}

/* Fetches a view of the campaign, verified with the pinned key. */
static hush_publication *fetch(sim_http *h, const uint8_t pk[32], bool device,
                               sim_buf *body, char **sig_out)
{
    return sim_fetch(h, device ? "/v1/campaigns/mail?view=device" : "/v1/campaigns/mail",
                     pk, device, body, sig_out);
}

/* One loop at one epsilon.  shuffled: the shuffled-votes control, which
 * records its fd per round in fd_shuffled; otherwise the loop itself, whose
 * rows get info from fd_shuffled (when the controls ran) and which also
 * measures the concat control each round. */
static void run(const opts *o, world *w, double eps, FILE *csv, const char *corpus_file,
                size_t run_index, bool shuffled, double *fd_shuffled)
{
    char en[16];
    eps_name(eps, en, sizeof en);
    sim_http h = {.c = curl_easy_init()};
    sim_server srv = {0};
    const char *extra[10] = {"--generator-corpus", corpus_file, NULL};
    size_t ne = 2;
    if (o->generator_cmd != NULL) {
        extra[ne++] = "--generator-cmd";
        extra[ne++] = o->generator_cmd;
        extra[ne++] = "--generator-timeout";
        extra[ne++] = "600";
    }
    if (w->wordvec != NULL) {
        extra[ne++] = "--word-vectors";
        extra[ne++] = w->wordvec_path;
    }
    sim_start(&srv, o->hushd, o->out, extra, &h);
    sim_buf b = {0};
    uint8_t pk[32];
    sim_pin_key(&h, pk);
    /* the campaign */
    json_t *cands = json_array();
    for (size_t i = 0; i < o->candidates; i++) {
        char id[32];
        snprintf(id, sizeof id, "s%zu", i);
        json_array_append_new(cands,
                              json_pack("{s:s, s:s}", "id", id, "text", w->initial.v[i]));
    }
    json_t *create = json_pack(
        "{s:s, s:s, s:s, s:o, s:f, s:s, s:f, s:o, s:{s:i, s:f}, s:i, s:{s:I, s:I, s:s}}",
        "id", "mail", "name", "Synthetic mail (hush-sim)", "kind", "synthetic",
        "candidates", cands, "epsilon", isinf(eps) ? HUSH_LDP_EPSILON_MAX : eps,
        "mechanism", isinf(eps) ? "grr" : "auto", "match_threshold", -1.0, "embedder",
        json_loads(w->embedder_desc, 0, NULL), "budget", "reports_per_device_per_day", 1,
        "epsilon_per_device_per_day", isinf(eps) ? HUSH_LDP_EPSILON_MAX : eps,
        "min_reports", 0, "refine", "population", (json_int_t)o->candidates, "keep",
        (json_int_t)fmax(1, round(o->keep * (double)o->candidates)), "generator",
        o->generator);
    json_object_set_new(json_object_get(create, "refine"), "selection",
                        json_string(o->selection));
    char *body = json_dumps(create, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(create);
    long st = sim_call(&h, "POST", "/v1/campaigns", body, strlen(body), true, &b);
    free(body);
    if (st != 201) {
        sim_die("creating the campaign: HTTP %ld %s", st, b.p);
    }
    /* the real devices: agents with their own state, on a simulated clock */
    int64_t clock_now = 20000LL * DAY;
    char agents_dir[300];
    snprintf(agents_dir, sizeof agents_dir, "%s/agents", srv.dir);
    mkdir(agents_dir, 0700);
    hush_transport *t = NULL;
    hush_err err = {0};
    if (o->real_devices > 0 && hush_transport_new(h.base, NULL, &t, &err) != 0) {
        sim_die("transport: %s", err.msg);
    }
    hush_rng *rng = NULL;
    if (hush_rng_new_seeded_u64(o->seed * 1000003 + run_index, &rng) != 0) {
        sim_die("rng");
    }
    double fd0 = 0, fd0_j = 0;
    json_t *roots = json_object(); /* sample id -> the initial sample it descends from */
    hush_rng *crng = NULL;         /* the concat control's draws */
    if (hush_rng_new_seeded_u64(o->seed * 2654435761u + run_index, &crng) != 0) {
        sim_die("rng");
    }
    uint32_t *match = malloc(w->device_emails.n * sizeof *match + 1);
    for (size_t round = 0;; round++) {
        progress(o, en, round, o->rounds, 0.0, "measuring");
        /* the analyst's view: the texts, measured against the private data */
        hush_publication *full = fetch(&h, pk, false, &b, NULL);
        row r = {.eps = eps,
                 .round = round,
                 .control = shuffled ? "shuffled-votes" : "none",
                 .info = NAN,
                 .lineages = -1};
        judge_set(w, full->candidate_texts, full->n_candidates, o->seed * 31 + round,
                  &r.j);
        if (round == 0) {
            fd0 = r.j.fd;
            fd0_j = r.j.fd_j;
        }
        r.gap = fd0 - w->fd_oracle > 0 ? (fd0 - r.j.fd) / (fd0 - w->fd_oracle) : 0;
        r.gap_j = fd0_j - w->fd_oracle_j > 0
                      ? (fd0_j - r.j.fd_j) / (fd0_j - w->fd_oracle_j)
                      : 0;
        if (shuffled) {
            fd_shuffled[round] = r.j.fd;
        } else if (o->controls) {
            r.info = fd_shuffled[round] - r.j.fd;
        }
        if (round > 0) {
            /* the previous close's record */
            sim_call(&h, "GET", "/v1/campaigns/mail/rounds", NULL, 0, false, &b);
            json_t *hist = json_loads(b.p, 0, NULL);
            json_t *prev = json_array_get(json_object_get(hist, "rounds"), round - 1);
            r.n_reports =
                (uint64_t)json_integer_value(json_object_get(prev, "n_reports"));
            r.kept = (long)json_integer_value(json_object_get(prev, "kept"));
            r.generated = (long)json_integer_value(json_object_get(prev, "generated"));
            /* lineage: a new sample descends from its parent's ancestor */
            const char *child;
            json_t *parent;
            json_object_foreach(json_object_get(prev, "lineage"), child, parent)
            {
                json_t *root = json_object_get(roots, json_string_value(parent));
                if (root != NULL) {
                    json_object_set(roots, child, root);
                }
            }
            json_decref(hist);
        }
        if (round == 0) {
            for (size_t i = 0; i < full->n_candidates; i++) {
                json_object_set_new(roots, full->candidate_ids[i],
                                    json_string(full->candidate_ids[i]));
            }
        }
        {
            /* how many initial samples still have a descendant */
            json_t *alive = json_object();
            bool known = true;
            for (size_t i = 0; i < full->n_candidates; i++) {
                json_t *root = json_object_get(roots, full->candidate_ids[i]);
                known = known && root != NULL;
                if (root != NULL) {
                    json_object_set_new(alive, json_string_value(root), json_true());
                }
            }
            r.lineages = known ? (long)json_object_size(alive) : -1;
            json_decref(alive);
        }
        emit(o, w, &r, csv);
        if (!shuffled && o->controls) {
            sim_texts ct =
                concat_control(w, full->candidate_texts, full->n_candidates, crng);
            row rc = {.eps = eps,
                      .round = round,
                      .control = "concat",
                      .info = NAN,
                      .lineages = -1};
            judge_set(w, ct.v, ct.n, o->seed * 37 + round, &rc.j);
            rc.gap = fd0 - w->fd_oracle > 0 ? (fd0 - rc.j.fd) / (fd0 - w->fd_oracle) : 0;
            rc.gap_j = fd0_j - w->fd_oracle_j > 0
                           ? (fd0_j - rc.j.fd_j) / (fd0_j - w->fd_oracle_j)
                           : 0;
            emit(o, w, &rc, csv);
            sim_texts_free(&ct);
        }
        hush_publication_free(full);
        if (round == o->rounds) {
            break;
        }
        /* the devices' view: signed, no sim_texts */
        char *sig = NULL;
        hush_publication *dev = fetch(&h, pk, true, &b, &sig);
        char *dev_body = malloc(b.n + 1);
        memcpy(dev_body, b.p, b.n + 1);
        size_t dev_len = b.n;
        hush_ldp *mech = NULL;
        if (hush_ldp_new(&dev->params, &mech, &err) != 0) {
            sim_die("mechanism: %s", err.msg);
        }
        /* every private email's match, as a device computes it */
        hush_matrix *q = NULL;
        if (hush_matrix_new(HUSH_MATRIX_I8, (uint32_t)w->device_emails.n, w->P.dim, &q,
                            &err) != 0) {
            sim_die("matrix: %s", err.msg);
        }
        for (size_t i = 0; i < w->device_emails.n; i++) {
            if (hush_matrix_set_row(q, (uint32_t)i, w->P.v + i * w->P.dim, w->P.dim,
                                    &err) != 0) {
                sim_die("matrix: %s", err.msg);
            }
        }
        hush_match *best = malloc(w->device_emails.n * sizeof *best);
        if (hush_nearest(dev->matrix, q, 1, (float)dev->match_threshold, best,
                         w->device_emails.n, &err) != 0) {
            sim_die("nearest: %s", err.msg);
        }
        uint32_t none = dev->params.domain - 1;
        for (size_t i = 0; i < w->device_emails.n; i++) {
            match[i] = best[i].index == HUSH_MATCH_NONE ? none : best[i].index;
        }
        free(best);
        hush_matrix_free(q);
        /* the real devices */
        clock_now += DAY;
        for (size_t d = 0; d < o->real_devices && d < o->devices; d++) {
            char state[400];
            snprintf(state, sizeof state, "%s/%zu", agents_dir, d);
            uint8_t seed[32] = {0};
            hush_store_le64(seed, o->seed * 7919 + d * 104729 + round);
            hush_agent_config cfg = {.state_dir = state,
                                     .clock = sim_clock,
                                     .clock_ctx = &clock_now,
                                     .rng_seed = seed,
                                     .max_sample_bytes = 16u << 20,
                                     .word_vectors = w->wordvec};
            memcpy(cfg.collector_key, pk, 32);
            hush_agent *a = NULL;
            hush_campaign *c = NULL;
            char *batch = NULL, *resp = NULL;
            size_t blen = 0;
            long pst = 0;
            if (hush_agent_open(&cfg, &a, &err) != 0) {
                sim_die("agent: %s", err.msg);
            }
            for (size_t k = 0; k < o->emails_per_device; k++) {
                const char *tx =
                    w->device_emails.v[w->holds[d * o->emails_per_device + k]];
                if (hush_agent_add_sample(a, tx, strlen(tx), &err) != 0) {
                    sim_die("agent sample: %s", err.msg);
                }
            }
            if (hush_agent_accept_campaign(a, "mail", dev_body, dev_len, sig, &c, &err) !=
                    0 ||
                hush_agent_make_report_batch(a, c, NULL, &batch, &blen, &err) != 0 ||
                hush_transport_post(t, "/v1/reports", batch, blen, &pst, &resp, &err) !=
                    0) {
                sim_die("real device %zu: %s", d, err.msg);
            }
            if (pst != 200) {
                sim_die("real device %zu: HTTP %ld %s", d, pst, resp);
            }
            hush_free(batch);
            hush_free(resp);
            hush_campaign_free(c);
            hush_agent_close(a);
        }
        /* the simulated devices, in batches of up to HUSH_BATCH_MAX_REPORTS */
        size_t rs = hush_ldp_report_size(mech);
        uint8_t *reports = malloc(HUSH_BATCH_MAX_REPORTS * rs);
        size_t first = o->real_devices < o->devices ? o->real_devices : o->devices;
        for (size_t d = first; d < o->devices;) {
            size_t n = o->devices - d < HUSH_BATCH_MAX_REPORTS ? o->devices - d
                                                               : HUSH_BATCH_MAX_REPORTS;
            for (size_t i = 0; i < n; i++) {
                size_t dv = d + i;
                uint32_t e = w->holds[dv * o->emails_per_device +
                                      hush_rng_uniform(rng, o->emails_per_device)];
                if (hush_ldp_encode(mech, match[e], rng, reports + i * rs, rs, &err) !=
                    0) {
                    sim_die("encode: %s", err.msg);
                }
            }
            uint8_t id[HUSH_BATCH_ID_BYTES];
            hush_rng_bytes(rng, id, sizeof id);
            json_t *bd = hush_batch_build(mech, "mail", dev->round, id, reports, n);
            char *bj = json_dumps(bd, JSON_COMPACT);
            json_decref(bd);
            st = sim_call(&h, "POST", "/v1/reports", bj, strlen(bj), false, &b);
            free(bj);
            if (st != 200) {
                sim_die("posting reports: HTTP %ld %s", st, b.p);
            }
            d += n;
            progress(o, en, round, o->rounds, (double)d / (double)o->devices, "voting");
        }
        free(reports);
        hush_ldp_free(mech);
        /* close the round: keep, vary, publish */
        progress(o, en, round, o->rounds, 1.0, "refining");
        json_t *close = json_pack("{s:I, s:{s:f, s:f, s:f, s:f, s:f, s:f}}", "round",
                                  (json_int_t)dev->round, "metrics", "fd", r.j.fd, "gap",
                                  r.gap, "ncov", r.j.ncov, "ovl", r.j.ovl, "auc", r.j.auc,
                                  "coverage", r.j.coverage);
        if (shuffled) {
            json_object_set_new(close, "votes", json_string("shuffled"));
        }
        char *cj = json_dumps(close, JSON_COMPACT | JSON_REAL_PRECISION(10));
        json_decref(close);
        st = sim_call(&h, "POST", "/v1/campaigns/mail/rounds", cj, strlen(cj), true, &b);
        free(cj);
        if (st != 201) {
            sim_die("closing round %u: HTTP %ld %s", dev->round, st, b.p);
        }
        hush_publication_free(dev);
        free(dev_body);
        free(sig);
    }
    free(match);
    json_decref(roots);
    hush_rng_free(rng);
    hush_rng_free(crng);
    hush_transport_free(t);
    free(b.p);
    sim_server_stop(&srv);
    curl_easy_cleanup(h.c);
}

/* ---- the plot ------------------------------------------------------------ */

static void plot(const opts *o)
{
    char script[1200];
    snprintf(script, sizeof script, "%s/refine.gp", o->out);
    FILE *f = fopen(script, "w");
    if (f == NULL) {
        return;
    }
    fprintf(f,
            "set datafile separator ','\n"
            "set key outside right\n"
            "set xlabel 'round'\nset ylabel 'Frechet distance to the private emails'\n"
            "set title 'hush-sim: synthetic set vs private emails (TF-IDF/SVD judge)'\n"
            "set grid\nset xtics 1\n"
            "files = '%s/refine.csv'\n",
            o->out);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0) {
            fprintf(f, "set terminal pngcairo size 900,540\nset output '%s/refine.png'\n",
                    o->out);
        } else {
            fprintf(f, "set terminal svg size 900,540\nset output '%s/refine.svg'\n",
                    o->out);
        }
        fprintf(f, "plot ");
        static const char *const controls[] = {"none", "shuffled-votes", "concat"};
        for (size_t i = 0; i < o->n_eps; i++) {
            char en[16];
            eps_name(o->eps[i], en, sizeof en);
            for (int c = 0; c < (o->controls ? 3 : 1); c++) {
                /* one series: the CSV's rows of this epsilon and control
                 * (the loop's rows and its concat control's interleave) */
                fprintf(f,
                        "\"< awk -F, '$1 == \\\"%s\\\" && $2 == \\\"%s\\\"' "
                        "%s/refine.csv\" using 3:4 with linespoints dashtype %d lc %zu "
                        "title 'eps %s%s%s', ",
                        en, controls[c], o->out, c + 1, i + 1, en, c > 0 ? ", " : "",
                        c > 0 ? controls[c] : "");
            }
        }
        fprintf(
            f, "files using 3:5 with lines dashtype 2 lc 'black' title 'oracle (held-out "
               "emails)'\n");
    }
    fclose(f);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "gnuplot '%s' 2>/dev/null", script);
    if (system(cmd) != 0) {
        fprintf(stderr,
                "hush-sim: gnuplot failed or is missing (scripts/install-deps); the "
                "CSV is still there\n");
    }
}

/* ---- main ------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fputs(
        "usage: hush-sim [refine] [--corpus FILE] [--hushd PATH] [--devices N] "
        "[--candidates N]\n"
        "                [--rounds R] [--epsilon LIST] [--private PREFIX] [--initial "
        "PREFIX]\n"
        "                [--emails-per-device K] [--keep SHARE] [--dim D] [--seed S]\n"
        "                [--real-devices N] [--out DIR] [--json] [--no-plot]\n"
        "                [--no-controls]\n"
        "                [--generator builtin|retrieval|external] [--generator-cmd CMD]\n"
        "                [--selection top|pe] [--embedder sif|hashed]\n"
        "                [--word-vectors TABLE] [--common pool|table]\n"
        "defaults: data/spamassassin.jsonl, hushd next to hush-sim, 100000 devices,\n"
        "1000 candidates, 5 rounds, epsilon 1,2,4,8,inf, private easy-ham, initial "
        "spam,\n"
        "3 emails a device, keep 0.2, dim 256, seed 1, 200 real devices, out "
        "hush-sim-out,\n"
        "generator retrieval (from the initial groups' emails), embedder sif over\n"
        "data/glove-sif-50k.hsif (scripts/fetch-wordvec; hashed: hashed n-grams of\n"
        "--dim dimensions) with its common component fitted on the public pool\n"
        "(--common table: the table's own)\n",
        f);
}

static size_t parse_size(const char *flag, const char *v, uint64_t min, uint64_t max)
{
    uint64_t x;
    hush_err err = {0};
    if (hush_parse_u64(v, min, max, flag, &x, &err) != 0) {
        sim_die("%s", err.msg);
    }
    return (size_t)x;
}

int sim_refine_main(int argc, char **argv, const char *hushd)
{
    opts o = {.corpus = "data/spamassassin.jsonl",
              .out = "hush-sim-out",
              .private_prefix = "easy-ham",
              .initial_prefix = "spam",
              .generator = "retrieval",
              .selection = "top",
              .devices = 100000,
              .candidates = 1000,
              .rounds = 5,
              .emails_per_device = 3,
              .real_devices = 200,
              .keep = 0.2,
              .eps = {1, 2, 4, 8, INFINITY},
              .n_eps = 5,
              .dim = 256,
              .embedder = "sif",
              .common_from_pool = true,
              .word_vectors = "data/glove-sif-50k.hsif",
              .seed = 1,
              .plot = true,
              .controls = true};
    o.hushd = hushd;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (strcmp(f, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(f, "--json") == 0) {
            o.json = true;
            continue;
        }
        if (strcmp(f, "--no-plot") == 0) {
            o.plot = false;
            continue;
        }
        if (strcmp(f, "--no-controls") == 0) {
            o.controls = false;
            continue;
        }
        if (i + 1 >= argc) {
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        if (strcmp(f, "--corpus") == 0) {
            o.corpus = v;
        } else if (strcmp(f, "--hushd") == 0) {
            o.hushd = v;
        } else if (strcmp(f, "--out") == 0) {
            o.out = v;
        } else if (strcmp(f, "--private") == 0) {
            o.private_prefix = v;
        } else if (strcmp(f, "--initial") == 0) {
            o.initial_prefix = v;
        } else if (strcmp(f, "--generator") == 0) {
            if (strcmp(v, "builtin") != 0 && strcmp(v, "external") != 0 &&
                strcmp(v, "retrieval") != 0) {
                sim_die("--generator is builtin, retrieval or external");
            }
            o.generator = v;
        } else if (strcmp(f, "--selection") == 0) {
            if (strcmp(v, "top") != 0 && strcmp(v, "pe") != 0) {
                sim_die("--selection is top or pe");
            }
            o.selection = v;
        } else if (strcmp(f, "--embedder") == 0) {
            if (strcmp(v, "sif") != 0 && strcmp(v, "hashed") != 0) {
                sim_die("--embedder is sif or hashed");
            }
            o.embedder = v;
        } else if (strcmp(f, "--word-vectors") == 0) {
            o.word_vectors = v;
        } else if (strcmp(f, "--common") == 0) {
            if (strcmp(v, "pool") != 0 && strcmp(v, "table") != 0) {
                sim_die("--common is pool or table");
            }
            o.common_from_pool = strcmp(v, "pool") == 0;
        } else if (strcmp(f, "--generator-cmd") == 0) {
            o.generator_cmd = v;
        } else if (strcmp(f, "--devices") == 0) {
            o.devices = parse_size(f, v, 1, 100000000);
        } else if (strcmp(f, "--candidates") == 0) {
            o.candidates = parse_size(f, v, 2, 100000);
        } else if (strcmp(f, "--rounds") == 0) {
            o.rounds = parse_size(f, v, 1, 1000);
        } else if (strcmp(f, "--emails-per-device") == 0) {
            o.emails_per_device = parse_size(f, v, 1, 1000);
        } else if (strcmp(f, "--real-devices") == 0) {
            o.real_devices = parse_size(f, v, 0, 100000);
        } else if (strcmp(f, "--dim") == 0) {
            o.dim = (uint32_t)parse_size(f, v, 8, 4096);
        } else if (strcmp(f, "--seed") == 0) {
            o.seed = parse_size(f, v, 0, UINT64_MAX);
        } else if (strcmp(f, "--keep") == 0) {
            char *end = NULL;
            o.keep = strtod(v, &end);
            if (end == v || *end != '\0' || !(o.keep > 0 && o.keep <= 1)) {
                sim_die("--keep is a share in (0, 1]");
            }
        } else if (strcmp(f, "--epsilon") == 0) {
            o.n_eps = 0;
            char list[256];
            snprintf(list, sizeof list, "%s", v);
            for (char *p = list; *p != '\0' && o.n_eps < MAX_EPS;) {
                size_t n = strcspn(p, ",");
                char item[32];
                snprintf(item, sizeof item, "%.*s", (int)n, p);
                char *end = NULL;
                double e = strcmp(item, "inf") == 0 ? INFINITY : strtod(item, &end);
                if ((!isinf(e) && (end == item || *end != '\0')) || !(e > 0) ||
                    (!isinf(e) && e > HUSH_LDP_EPSILON_MAX)) {
                    sim_die("--epsilon: \"%s\" is not in (0, %g] or inf", item,
                            HUSH_LDP_EPSILON_MAX);
                }
                o.eps[o.n_eps++] = e;
                p += n + (p[n] == ',');
            }
            if (o.n_eps == 0) {
                sim_die("--epsilon needs a value");
            }
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (o.hushd == NULL || access(o.hushd, X_OK) != 0) {
        sim_die("cannot run hushd at %s (--hushd PATH)", o.hushd != NULL ? o.hushd : "?");
    }
    o.progress = !o.json && isatty(STDERR_FILENO);
    if (hush_global_init() != 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        sim_die("initialisation failed");
    }
    mkdir(o.out, 0755);
    /* absolute: hushd runs in a directory of its own */
    char *out_abs = realpath(o.out, NULL);
    if (out_abs == NULL) {
        sim_die("cannot use %s: %s", o.out, strerror(errno));
    }
    o.out = out_abs;
    double t0 = sim_now();
    world w = {0};
    hush_rng *rng = NULL;
    if (hush_rng_new_seeded_u64(o.seed, &rng) != 0) {
        sim_die("rng");
    }
    sim_texts private_ = {0}, others = {0}, public_docs = {0};
    load_corpus(&o, &private_, &w.initial, &others, &public_docs, rng);
    if (w.initial.n < o.candidates) {
        sim_die("only %zu initial sentences in groups %s*", w.initial.n,
                o.initial_prefix);
    }
    /* halves: devices hold the even ones, the oracle draws from the odd */
    for (size_t i = 0; i < private_.n; i++) {
        sim_texts_push(i % 2 == 0 ? &w.device_emails : &w.oracle_emails, private_.v[i],
                       strlen(private_.v[i]));
    }
    sim_texts_free(&private_);
    w.holds = malloc(o.devices * o.emails_per_device * sizeof *w.holds);
    if (w.holds == NULL) {
        sim_die("out of memory");
    }
    for (size_t i = 0; i < o.devices * o.emails_per_device; i++) {
        w.holds[i] = (uint32_t)hush_rng_uniform(rng, w.device_emails.n);
    }
    /* the campaign's embedder, which devices and the metrics share */
    hush_err err = {0};
    if (strcmp(o.embedder, "sif") == 0) {
        char *abs_wv = realpath(o.word_vectors, NULL);
        if (abs_wv == NULL || hush_wordvec_load(abs_wv, &w.wordvec, &err) != 0) {
            sim_die("%s: %s (scripts/fetch-wordvec builds it)", o.word_vectors,
                    abs_wv == NULL ? strerror(errno) : err.msg);
        }
        snprintf(w.wordvec_path, sizeof w.wordvec_path, "%s", abs_wv);
        free(abs_wv);
        if (o.common_from_pool && hush_wordvec_is_sif(w.wordvec)) {
            /* the common component of the public pool (the initial groups'
             * whole emails), as an operator fits it on its public corpus:
             * a new table, which hushd and the agents then load */
            size_t tlen = 0;
            uint8_t *tbuf = (uint8_t *)read_whole(w.wordvec_path, &tlen), *nbuf = NULL;
            size_t *lens = malloc((public_docs.n + 1) * sizeof *lens), nlen = 0;
            for (size_t i = 0; i < public_docs.n; i++) {
                lens[i] = strlen(public_docs.v[i]);
            }
            if (tbuf == NULL ||
                hush_sif_table_recommon(tbuf, tlen, (const char *const *)public_docs.v,
                                        lens, public_docs.n, &nbuf, &nlen, &err) != 0) {
                sim_die("fitting the common component: %s", err.msg);
            }
            snprintf(w.wordvec_path, sizeof w.wordvec_path, "%s/public-sif.hsif", o.out);
            FILE *tf = fopen(w.wordvec_path, "wb");
            if (tf == NULL || fwrite(nbuf, 1, nlen, tf) != nlen || fclose(tf) != 0) {
                sim_die("cannot write %s", w.wordvec_path);
            }
            char *abs_new = realpath(w.wordvec_path, NULL);
            snprintf(w.wordvec_path, sizeof w.wordvec_path, "%s", abs_new);
            free(abs_new);
            hush_wordvec_free(w.wordvec);
            w.wordvec = NULL;
            if (hush_wordvec_read(nbuf, nlen, &w.wordvec, &err) != 0) {
                sim_die("%s", err.msg);
            }
            free(tbuf);
            hush_free(nbuf);
            free(lens);
        }
        if (hush_embedder_new_sif(w.wordvec, o.seed, &w.embedder, &err) != 0) {
            sim_die("embedder: %s", err.msg);
        }
        o.dim = hush_embedder_dim(w.embedder);
    } else if (hush_embedder_new_default(o.dim, o.seed, &w.embedder, &err) != 0) {
        sim_die("embedder: %s", err.msg);
    }
    if (hush_embedder_describe(w.embedder, &w.embedder_desc, &err) != 0) {
        sim_die("embedder: %s", err.msg);
    }
    /* initial samples must embed (some sentences are all symbols) */
    size_t keep_n = 0;
    float *probe = malloc(o.dim * sizeof *probe);
    for (size_t i = 0; i < w.initial.n; i++) {
        if (hush_embed_text(w.embedder, w.initial.v[i], strlen(w.initial.v[i]), probe,
                            o.dim, NULL) == 0) {
            w.initial.v[keep_n++] = w.initial.v[i];
        } else {
            free(w.initial.v[i]);
        }
    }
    free(probe);
    w.initial.n = keep_n;
    if (w.initial.n < o.candidates) {
        sim_die("only %zu usable initial sentences in groups %s*", w.initial.n,
                o.initial_prefix);
    }
    for (size_t i = 0; i < w.initial.n; i++) {
        sim_texts_push(&w.public_sentences, w.initial.v[i], strlen(w.initial.v[i]));
    }
    /* the judges: a space fitted on the other groups' emails, and a second
     * one fitted on the held-out private-group emails */
    if (others.n < 2 ||
        sim_space_fit(others.v, others.n, EVAL_VOCAB, EVAL_DIMS, o.seed, &w.eval) != 0) {
        sim_die("cannot fit the evaluation space on %zu emails outside %s*", others.n,
                o.private_prefix);
    }
    if (sim_space_fit(w.oracle_emails.v, w.oracle_emails.n, EVAL_VOCAB, EVAL_DIMS,
                      o.seed + 1, &w.judge2) != 0) {
        sim_die("cannot fit the second judge's space on %zu held-out emails",
                w.oracle_emails.n);
    }
    sim_texts_free(&others);
    w.pe = embed_space(w.eval, w.device_emails.v, w.device_emails.n);
    w.pj = embed_space(w.judge2, w.device_emails.v, w.device_emails.n);
    w.centroids = malloc(CLUSTERS * sim_space_dims(w.eval) * sizeof *w.centroids);
    if (w.centroids == NULL || w.device_emails.n < CLUSTERS ||
        sim_kmeans(w.pe, w.device_emails.n, sim_space_dims(w.eval), CLUSTERS, rng,
                   w.centroids) != 0) {
        sim_die("k-means of the private emails failed");
    }
    double wp = 0;
    for (size_t i = 0; i < w.device_emails.n; i++) {
        wp += (double)sim_words(w.device_emails.v[i]);
    }
    w.words_private = wp / (double)w.device_emails.n;
    w.split =
        strcmp(o.private_prefix, "easy-ham") == 0 && strcmp(o.initial_prefix, "spam") == 0
            ? "default"
            : "custom";
    embed_all(w.embedder, w.device_emails.v, w.device_emails.n, &w.P);
    float *pp = malloc(w.P.n * w.P.n * sizeof *pp);
    w.p_knn = malloc(w.P.n * sizeof *w.p_knn);
    if (pp == NULL || w.p_knn == NULL) {
        sim_die("out of memory");
    }
    dots(&w.P, &w.P, pp);
    for (size_t i = 0; i < w.P.n; i++) {
        w.p_knn[i] = kth_largest(pp + i * w.P.n, w.P.n, i, KNN);
    }
    free(pp);
    /* the oracle: as many held-out real emails as there are candidates */
    size_t n_oracle = w.oracle_emails.n < o.candidates ? w.oracle_emails.n : o.candidates;
    fmat O;
    embed_all(w.embedder, w.oracle_emails.v, n_oracle, &O);
    quality oq = measure(&w.P, w.p_knn, &O);
    w.oracle_coverage = oq.coverage;
    free(O.v);
    {
        double *oe = embed_space(w.eval, w.oracle_emails.v, n_oracle),
               *oj = embed_space(w.judge2, w.oracle_emails.v, n_oracle);
        uint32_t de = sim_space_dims(w.eval), dj = sim_space_dims(w.judge2);
        size_t np = w.device_emails.n;
        w.pe_mean = malloc(de * sizeof *w.pe_mean);
        w.pe_cov = malloc((size_t)de * de * sizeof *w.pe_cov);
        w.pj_mean = malloc(dj * sizeof *w.pj_mean);
        w.pj_cov = malloc((size_t)dj * dj * sizeof *w.pj_cov);
        if (w.pe_mean == NULL || w.pe_cov == NULL || w.pj_mean == NULL ||
            w.pj_cov == NULL || sim_moments(w.pe, np, de, w.pe_mean, w.pe_cov) != 0 ||
            sim_moments(w.pj, np, dj, w.pj_mean, w.pj_cov) != 0 ||
            sim_knn_radii(w.pe, np, de, KNN, &w.pe_radii) != 0 ||
            sim_frechet_to(oe, n_oracle, de, w.pe_mean, w.pe_cov, &w.fd_oracle) != 0 ||
            sim_frechet_to(oj, n_oracle, dj, w.pj_mean, w.pj_cov, &w.fd_oracle_j) != 0) {
            sim_die("out of memory");
        }
        free(oe);
        free(oj);
    }
    /* the generator's public corpus: the initial groups' sentences */
    char corpus_file[1100];
    snprintf(corpus_file, sizeof corpus_file, "%s/public-corpus.jsonl", o.out);
    FILE *cf = fopen(corpus_file, "w");
    if (cf == NULL) {
        sim_die("cannot write %s", corpus_file);
    }
    /* the retrieval generator draws documents, paragraphs and sentences
     * from whole public emails; the built-in one recombines sentences */
    bool docs = strcmp(o.generator, "retrieval") == 0;
    const sim_texts *pool = docs ? &public_docs : &w.initial;
    for (size_t i = 0; i < pool->n; i++) {
        json_t *line = json_pack("{s:s}", "text", pool->v[i]);
        char *s = json_dumps(line, JSON_COMPACT);
        fprintf(cf, "%s\n", s);
        free(s);
        json_decref(line);
    }
    fclose(cf);
    sim_texts_free(&public_docs);
    char *abs_corpus = realpath(corpus_file, NULL);
    char csv_path[1100];
    snprintf(csv_path, sizeof csv_path, "%s/refine.csv", o.out);
    FILE *csv = fopen(csv_path, "w");
    if (csv == NULL) {
        sim_die("cannot write %s", csv_path);
    }
    fprintf(csv, "epsilon,control,round,fd,fd_oracle,gap,fd_judge2,gap_judge2,ncov,ovl,"
                 "precision,auc,words,words_private,pairwise,twins,coverage,info,"
                 "n_reports,kept,generated,lineages\n");
    if (!o.json) {
        printf("hush-sim: %zu devices holding %zu private emails (%s*), %zu held out; "
               "oracle (%zu held-out emails): fd %.4f (judge 2: %.4f), words %.1f; %zu "
               "candidates from %s* sentences\n",
               o.devices, w.device_emails.n, o.private_prefix, w.oracle_emails.n,
               n_oracle, w.fd_oracle, w.fd_oracle_j, w.words_private, o.candidates,
               o.initial_prefix);
    }
    double *fd_shuffled = calloc(o.rounds + 1, sizeof *fd_shuffled);
    if (fd_shuffled == NULL) {
        sim_die("out of memory");
    }
    for (size_t i = 0; i < o.n_eps; i++) {
        if (o.controls) {
            run(&o, &w, o.eps[i], csv, abs_corpus, 100 + i, true, fd_shuffled);
        }
        run(&o, &w, o.eps[i], csv, abs_corpus, i, false, fd_shuffled);
    }
    free(fd_shuffled);
    fclose(csv);
    free(abs_corpus);
    if (o.plot) {
        plot(&o);
    }
    if (!o.json) {
        printf("hush-sim: %.0f s; CSV %s%s%s%s\n", sim_now() - t0, csv_path,
               o.plot ? ", plot " : "", o.plot ? o.out : "",
               o.plot ? "/refine.png and .svg" : "");
    }
    sim_texts_free(&w.device_emails);
    sim_texts_free(&w.oracle_emails);
    sim_texts_free(&w.initial);
    free(w.holds);
    free(w.P.v);
    free(w.p_knn);
    sim_texts_free(&w.public_sentences);
    sim_space_free(w.eval);
    sim_space_free(w.judge2);
    free(w.pe);
    free(w.pj);
    free(w.pe_mean);
    free(w.pe_cov);
    free(w.pj_mean);
    free(w.pj_cov);
    free(w.pe_radii);
    free(w.centroids);
    hush_free(w.embedder_desc);
    hush_embedder_free(w.embedder);
    hush_wordvec_free(w.wordvec);
    hush_rng_free(rng);
    free(out_abs);
    curl_global_cleanup();
    return 0;
}
