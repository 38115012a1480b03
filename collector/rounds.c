/*
 * rounds.c - refinement: closing a synthetic campaign's round, keeping the
 * samples devices voted for most, generating variations, and publishing the
 * next round; the round history; automatic rounds.
 *
 * Closing round r (POST /v1/campaigns/{id}/rounds, or the refiner thread):
 *   1. the estimates of r as they stand select the kept samples (the top
 *      `keep` with estimate >= min_z standard errors and > 0; never "none");
 *   2. a generator makes population - kept variations of them;
 *   3. the new population is embedded, published as round r+1 and signed;
 *   4. under the campaigns write lock, which the writer thread's commits
 *      also take, r's final estimates are frozen, the store closes r and
 *      opens r+1 in one transaction, and r+1 becomes the open round.
 * A batch for r is therefore either counted in r's final estimates or
 * refused with 409; a failure at any step leaves r open and unchanged.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <xxhash.h>

#include "domain.h"

#define DEFAULT_KEEP_SHARE 0.2
#define MAX_METRICS_BYTES 16384
#define MAX_GENERATED_BYTES 4096

typedef hush__policy policy;

static double ms_since(double t0)
{
    return (hush__now() - t0) * 1e3;
}

/* The spec's budget and mechanism settings, as the first round had them. */
static int spec_settings(const hush__campaign *c, const hush_publication *pub,
                         json_t **spec, hush__pub_spec *ps)
{
    *spec = json_loads(c->spec, 0, NULL);
    if (*spec == NULL) {
        return HUSH_ECORRUPT;
    }
    ps->id = c->id;
    ps->name = c->name;
    ps->synthetic = true;
    ps->epsilon = pub->params.epsilon;
    ps->reports_per_day = pub->reports_per_device_per_day;
    ps->eps_per_day = pub->epsilon_per_device_per_day;
    ps->min_reports = (int64_t)pub->min_reports;
    ps->threshold = pub->match_threshold;
    ps->spec = *spec;
    return 0;
}

/* A round close in progress: what each step leaves for the next. */
typedef struct closing {
    hush_collector *h;
    hush__campaign *c;
    hush__round *r; /* the round being closed (a reference) */
    const hush_publication *pub;
    policy pol;
    char *metrics_text; /* the request's "metrics", kept with the round */
    /* 1. selection */
    hush_ldp_estimate *est;
    uint32_t *by;    /* which candidate's estimate each is selected by */
    uint32_t *order; /* candidates ranked by those estimates */
    hush__parent *parents;
    size_t population, keep, kept, survivors;
    uint64_t seed;
    double pe_h;
    /* 2. generation */
    char **texts;
    size_t n_texts;
    size_t *parent_of; /* each new text's parent, where the generator knows it */
    /* 3. the next round */
    json_t *cands, *lineage, *spec;
    char *pub_body, *sig;
    hush__round *next;
    /* timings, ms */
    double t_start, estimate_ms, generate_ms, publish_ms, store_ms;
    uint64_t n_final;
} closing;

static void closing_free(closing *k)
{
    hush__round_put(k->next);
    hush__round_put(k->r);
    hush_free(k->metrics_text);
    hush_free(k->est);
    hush_free(k->by);
    hush_free(k->order);
    hush_free(k->parents);
    hush__texts_free(k->texts, k->n_texts);
    hush_free(k->parent_of);
    json_decref(k->cands);
    json_decref(k->lineage);
    json_decref(k->spec);
    hush_free(k->pub_body);
    hush_free(k->sig);
}

/* What the request may say: the round it means to close, metrics to keep. */
static int close_check(closing *k, const json_t *req, hush__fail *f)
{
    const json_t *want_round = req != NULL ? json_object_get(req, "round") : NULL;
    if (want_round != NULL &&
        (!json_is_integer(want_round) || json_integer_value(want_round) < 1 ||
         json_integer_value(want_round) > UINT32_MAX)) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_round",
                              "\"round\" must be a round number (an integer from 1)");
    }
    if (want_round != NULL && json_integer_value(want_round) != k->r->round) {
        return hush__fail_set(f, HUSH_ESTATE, "round_mismatch",
                              "round %u is open, not the round the request names",
                              k->r->round);
    }
    const json_t *metrics = req != NULL ? json_object_get(req, "metrics") : NULL;
    if (metrics != NULL) {
        k->metrics_text =
            json_is_object(metrics)
                ? hush_json_dumps(metrics, JSON_COMPACT | JSON_REAL_PRECISION(10))
                : NULL;
        if (k->metrics_text == NULL || strlen(k->metrics_text) > MAX_METRICS_BYTES) {
            return hush__fail_set(f, HUSH_EINVAL, "invalid_metrics",
                                  "\"metrics\" must be an object of at most %d bytes",
                                  MAX_METRICS_BYTES);
        }
    }
    if (k->pub->kind != HUSH_CAMPAIGN_SYNTHETIC) {
        return hush__fail_set(
            f, HUSH_ESTATE, "not_synthetic",
            "%s is a poll: its candidates are fixed and it has no rounds to close",
            k->c->id);
    }
    return 0;
}

/* Which estimate each candidate is selected by: its own, or with "votes":
 * "shuffled" another candidate's, drawn by a seeded permutation (the same
 * vote distribution with no information in it: a control that shows what
 * the loop does without the devices' signal). */
static int selection_order(closing *k, hush__fail *f)
{
    uint32_t n = k->pub->n_candidates;
    k->by = hush_malloc((n + 1) * sizeof *k->by);
    if (k->by == NULL) {
        return hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
    }
    for (uint32_t i = 0; i < n; i++) {
        k->by[i] = i;
    }
    if (k->pol.shuffled_votes) {
        hush_rng *prng = NULL;
        if (hush_rng_new_seeded_u64(k->seed ^ UINT64_C(0x5eed5eed5eed5eed), &prng) != 0) {
            return hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
        }
        for (uint32_t i = n; i > 1; i--) {
            uint32_t j = (uint32_t)hush_rng_uniform(prng, i), t = k->by[i - 1];
            k->by[i - 1] = k->by[j];
            k->by[j] = t;
        }
        hush_rng_free(prng);
    }
    k->order = hush__rank(k->est, k->by, n);
    return k->order != NULL ? 0
                            : hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
}

/* 1. The kept samples, from the estimates as they stand: the top `keep`
 * with an estimate of at least min_z standard errors and above 0.  PE
 * (Lin et al. 2023; Hou et al. 2024): every candidate whose count exceeds
 * pe_threshold standard errors is a parent, weighted by the excess; none
 * survives. */
static int close_select(closing *k, hush__fail *f)
{
    const hush_publication *pub = k->pub;
    hush__round *r = k->r;
    uint32_t d = pub->params.domain;
    hush_err err = {0};
    k->est = hush_calloc(d, sizeof *k->est);
    if (k->est == NULL) {
        return hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
    }
    pthread_mutex_lock(&r->lock);
    hush_ldp_agg *tmp = NULL;
    const hush_ldp_agg *all = hush__round_total(r, &tmp); /* with other nodes' */
    uint64_t n_now = all != NULL ? hush_ldp_agg_count(all) : 0;
    int erc = all == NULL ? hush_err_set(&err, HUSH_ENOMEM, "out of memory")
              : n_now >= pub->min_reports
                  ? hush_ldp_agg_estimate(all, 0.0, k->est, d, &err)
                  : 0;
    pthread_mutex_unlock(&r->lock);
    hush_ldp_agg_free(tmp);
    if (erc == HUSH_ENOMEM) {
        return hush__fail_internal(f, &err);
    }
    if (n_now < pub->min_reports || n_now == 0) {
        return hush__fail_set(
            f, HUSH_ESTATE, "too_few_reports",
            "round %u holds %llu reports; closing needs at least %llu and "
            "one",
            r->round, (unsigned long long)n_now, (unsigned long long)pub->min_reports);
    }
    if (erc != 0) {
        return hush__fail_internal(f, &err);
    }
    k->population = k->pol.population > 0 ? (size_t)k->pol.population : pub->n_candidates;
    k->keep = k->pol.keep > 0 ? (size_t)k->pol.keep
                              : (size_t)ceil(DEFAULT_KEEP_SHARE * (double)k->population);
    k->keep = k->keep < k->population ? k->keep : k->population;
    k->seed = k->pol.has_seed
                  ? k->pol.seed
                  : XXH3_64bits_withSeed(k->c->id, strlen(k->c->id), r->round);
    int rc = selection_order(k, f);
    if (rc != 0) {
        return rc;
    }
    k->pe_h = k->pol.has_pe_threshold ? k->pol.pe_threshold : 3.0;
    if (k->pol.pe) {
        k->keep = pub->n_candidates;
    }
    k->parents = hush_calloc(k->keep + 1, sizeof *k->parents);
    if (k->parents == NULL) {
        return hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
    }
    for (size_t j = 0; j < pub->n_candidates && k->kept < k->keep; j++) {
        uint32_t i = k->order[j];
        const hush_ldp_estimate *e = &k->est[k->by[i]];
        if (!(e->count > 0)) {
            break; /* ranked by estimate: none after this is positive */
        }
        if (e->count < k->pol.min_z * e->std_error) {
            continue;
        }
        double weight = k->pol.pe ? e->count - k->pe_h * e->std_error : e->count;
        if (k->pol.pe && !(weight > 0)) {
            continue;
        }
        k->parents[k->kept++] = (hush__parent){.id = pub->candidate_ids[i],
                                               .text = pub->candidate_texts[i],
                                               .estimate = weight,
                                               .std_error = e->std_error,
                                               .children = 0};
    }
    if (k->kept == 0) {
        return hush__fail_set(f, HUSH_ESTATE, "nothing_to_keep",
                              "no candidate of round %u has a positive estimate of at "
                              "least %g standard errors; lower min_z or wait for more "
                              "reports",
                              r->round, k->pol.min_z);
    }
    k->survivors = k->pol.pe ? 0 : k->kept;
    return 0;
}

/* PE: the children, `want` draws in proportion to the parents' weights. */
static int pe_children(closing *k, size_t want, hush__fail *f)
{
    hush_rng *arng = NULL;
    double total = 0;
    for (size_t j = 0; j < k->kept; j++) {
        total += k->parents[j].estimate;
    }
    if (hush_rng_new_seeded_u64(k->seed ^ UINT64_C(0x9e3779b97f4a7c15), &arng) != 0) {
        return hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
    }
    for (size_t draw = 0; draw < want; draw++) {
        double u = hush_rng_unit(arng) * total, acc = 0;
        size_t j = 0;
        for (; j + 1 < k->kept; j++) {
            acc += k->parents[j].estimate;
            if (u < acc) {
                break;
            }
        }
        k->parents[j].children++;
    }
    hush_rng_free(arng);
    return 0;
}

/* The generator the policy names, for `want` texts. */
static int run_generator(closing *k, size_t want, hush_err *gerr)
{
    hush_collector *h = k->h;
    const hush_publication *pub = k->pub;
    if (k->pol.external) {
        return hush__generate_external_lineage(
            h->cfg.generator_cmd, h->cfg.generator_timeout_s, h->cfg.generator_max_bytes,
            k->parents, k->kept, want, k->c->id, k->r->round, k->seed,
            MAX_GENERATED_BYTES, &k->texts, &k->n_texts, k->parent_of, gerr);
    }
    if (k->pol.retrieval) {
        hush_embedder *emb = NULL;
        int grc = pub->embedder == NULL
                      ? hush_err_set(gerr, HUSH_EINVAL, "the campaign has no embedder")
                      : hush_embedder_new(pub->embedder, strlen(pub->embedder), NULL, 0,
                                          h->wordvec, &emb, gerr);
        if (grc == 0) {
            grc = hush__generate_retrieval(
                k->parents, k->kept, want, k->r->round, k->seed,
                (const char *const *)h->corpus, h->n_corpus,
                (const char *const *)pub->candidate_texts, pub->n_candidates, emb,
                h->wordvec, k->pol.substitute, MAX_GENERATED_BYTES, &k->texts,
                &k->n_texts, k->parent_of, gerr);
        }
        hush_embedder_free(emb);
        return grc;
    }
    return hush__generate_builtin_lineage(
        k->parents, k->kept, want, k->seed, (const char *const *)h->corpus, h->n_corpus,
        MAX_GENERATED_BYTES, &k->texts, &k->n_texts, k->parent_of, gerr);
}

/* 2. Generate (by default from the public corpus when there is one:
 * recombination lengthens texts and makes near-copies; docs/generators.md). */
static int close_generate(closing *k, hush__fail *f)
{
    hush_collector *h = k->h;
    if (!k->pol.generator_set) {
        k->pol.retrieval = h->n_corpus > 0;
    }
    bool have_sif = h->wordvec != NULL && hush_wordvec_is_sif(h->wordvec);
    if (!k->pol.has_substitute) {
        k->pol.substitute = have_sif ? HUSH__SUB_SHARE : 0.0;
    } else if (k->pol.substitute > 0.0 && !have_sif) {
        return hush__fail_set(
            f, HUSH_ESTATE, "no_word_vectors",
            "word substitution needs a SIF word-vector table (hushd --word-vectors)");
    }
    size_t want = k->population - k->survivors;
    int rc = k->pol.pe && k->kept > 0 ? pe_children(k, want, f) : 0;
    if (rc != 0 || want == 0) {
        return rc;
    }
    k->parent_of = hush_malloc((want + 1) * sizeof *k->parent_of);
    if (k->parent_of == NULL) {
        return hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
    }
    for (size_t i = 0; i <= want; i++) {
        k->parent_of[i] = SIZE_MAX; /* unknown (an external generator's) */
    }
    hush_err gerr = {0};
    int grc = run_generator(k, want, &gerr);
    if (grc != 0) {
        hush__log(h, "error", "generating %s round %u failed, the round stays open: %s",
                  k->c->id, k->r->round + 1, gerr.msg);
        /* an external program that failed is an upstream failure (502); a
         * corpus with nothing left to draw a conflict (409) */
        return hush__fail_set(f,
                              grc == HUSH_ENOMEM ? HUSH_ENOMEM
                              : k->pol.external  ? HUSH_EUPSTREAM
                              : k->pol.retrieval ? HUSH_ESTATE
                                                 : HUSH_EINTERNAL,
                              "generator_failed", "round %u stays open: %s", k->r->round,
                              gerr.msg);
    }
    return 0;
}

/* 3. The next population (kept samples keep their ids, then the new),
 * published and signed as the next round. */
static int close_publish(closing *k, hush__fail *f)
{
    uint32_t next_round = k->r->round + 1;
    k->cands = json_array();
    for (size_t i = 0; k->cands != NULL && i < k->survivors; i++) {
        json_array_append_new(k->cands, json_pack("{s:s, s:s}", "id", k->parents[i].id,
                                                  "text", k->parents[i].text));
    }
    for (size_t i = 0; k->cands != NULL && i < k->n_texts; i++) {
        char id[64];
        snprintf(id, sizeof id, "r%u-%zu", next_round, i);
        for (size_t j = 0; j < k->kept; j++) {
            if (strcmp(k->parents[j].id, id) == 0) { /* a kept sample named like ours */
                snprintf(id, sizeof id, "r%u-%zu-n", next_round, i);
                break;
            }
        }
        json_array_append_new(k->cands,
                              json_pack("{s:s, s:s}", "id", id, "text", k->texts[i]));
        if (k->parent_of != NULL && k->parent_of[i] < k->kept) {
            if (k->lineage == NULL) {
                k->lineage = json_object();
            }
            json_object_set_new(k->lineage, id,
                                json_string(k->parents[k->parent_of[i]].id));
        }
    }
    hush__pub_spec ps = {.round = next_round};
    json_t *embedder =
        k->pub->embedder != NULL ? json_loads(k->pub->embedder, 0, NULL) : NULL;
    ps.embedder = embedder;
    hush_ldp_params params;
    int rc = k->cands == NULL || embedder == NULL ||
                     spec_settings(k->c, k->pub, &k->spec, &ps) != 0
                 ? hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory")
                 /* f says why (e.g. a generated text with nothing to embed) */
                 : hush__publication_build(k->h, &ps, k->cands, &k->pub_body, &k->sig,
                                           &params, f);
    json_decref(embedder);
    hush_err err = {0};
    if (rc == 0 && hush__round_new(k->h, k->c->id, next_round, hush__wall(), k->pub_body,
                                   strlen(k->pub_body), k->sig, &k->next, &err) != 0) {
        rc = hush__fail_internal(f, &err);
    }
    return rc;
}

/* What the close used, kept with the round (text; NULL: out of memory). */
static char *policy_text(const closing *k)
{
    const policy *pol = &k->pol;
    char seed_text[24];
    snprintf(seed_text, sizeof seed_text, "%llu", (unsigned long long)k->seed);
    json_t *doc = json_pack(
        "{s:I, s:f, s:I, s:s, s:s, s:s}", "keep", (json_int_t)k->keep, "min_z",
        pol->min_z, "population", (json_int_t)k->population, "generator",
        pol->external    ? "external"
        : pol->retrieval ? "retrieval"
                         : "builtin",
        "seed", seed_text, "votes", pol->shuffled_votes ? "shuffled" : "estimates");
    if (doc != NULL) {
        json_object_set_new(doc, "selection", json_string(pol->pe ? "pe" : "top"));
        json_object_set_new(doc, "parents", json_integer((json_int_t)k->kept));
        if (pol->pe) {
            json_object_set_new(doc, "pe_threshold", json_real(k->pe_h));
        }
        if (pol->retrieval) {
            json_object_set_new(doc, "substitute", json_real(pol->substitute));
        }
    }
    char *text = doc != NULL ? hush_json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return text;
}

/* What the close stores about r, completed by close_final once every
 * node's share is in. */
struct frozen {
    closing *k;
    hush__round_record rec;
    char *estimates; /* the frozen estimates document */
};

/* r's final estimates from every node's share (the store's gather). */
static int close_final(void *ctx, const hush_ldp_agg *sum, hush_err *err)
{
    struct frozen *fz = ctx;
    closing *k = fz->k;
    uint32_t d = k->pub->params.domain;
    hush_free(fz->estimates); /* a retried transaction's */
    fz->estimates = NULL;
    k->n_final = hush_ldp_agg_count(sum);
    int rc = hush_ldp_agg_estimate(sum, 0.0, k->est, d, err);
    json_t *doc =
        rc == 0 ? hush__estimates_doc(k->c->id, k->r, k->n_final, k->est, d) : NULL;
    fz->estimates =
        doc != NULL ? hush_json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(doc);
    if (rc == 0 && fz->estimates == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    fz->rec.n_reports = k->n_final;
    fz->rec.estimates = fz->estimates;
    return rc;
}

/* Stores the close (r's final estimates frozen, r+1 opened) in one
 * transaction and switches to r+1; under the campaigns write lock, which
 * the writer's commits also take, so that a batch for r is counted in
 * the frozen estimates or refused with 409.  With other nodes on the store,
 * the store gathers their shares with the campaign locked against their
 * commits, so the same holds for a batch that reached any node. */
static int store_and_switch(closing *k, const char *pol_text, hush_err *err)
{
    hush_collector *h = k->h;
    hush__round *r = k->r;
    json_t *timings =
        json_pack("{s:f, s:f, s:f}", "estimate_ms", k->estimate_ms, "generate_ms",
                  k->generate_ms, "publish_ms", k->publish_ms);
    char *timings_text = timings != NULL ? hush_json_dumps(timings, JSON_COMPACT) : NULL;
    json_decref(timings);
    char *lineage_text =
        k->lineage != NULL ? hush_json_dumps(k->lineage, JSON_COMPACT) : NULL;
    struct frozen fz = {.k = k,
                        .rec = {.kept = (unsigned)k->survivors,
                                .generated = (unsigned)k->n_texts,
                                .timings = timings_text,
                                .metrics = k->metrics_text,
                                .policy = pol_text,
                                .lineage = lineage_text}};
    hush__gathered ga;
    hush__gathered_init(&ga, r, close_final, &fz);
    pthread_rwlock_wrlock(&h->campaigns_lock);
    int rc = HUSH_ENOMEM;
    if (timings_text != NULL && pol_text != NULL &&
        (k->lineage == NULL || lineage_text != NULL)) {
        hush__round_row nr = {k->next->round, k->next->pub_body, k->next->pub_len,
                              k->next->signature, k->next->opened_at};
        rc = h->store->ops->round_close(h->store, k->c->id, r->round, &ga.g, &fz.rec, &nr,
                                        err);
    } else {
        hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    if (rc == 0) {
        hush__round *old = k->c->cur;
        k->c->cur = k->next;
        k->next = NULL;
        hush__campaigns_list_rebuild(h);
        hush__round_put(old); /* the campaign's reference */
    }
    pthread_rwlock_unlock(&h->campaigns_lock);
    hush__gathered_fini(&ga);
    hush_free(fz.estimates);
    hush_free(timings_text);
    hush_free(lineage_text);
    return rc;
}

/* 4. Freeze r, store, switch; the answer. */
static int close_commit(closing *k, json_t **out, hush__fail *f)
{
    double t0 = hush__now();
    char *pol_text = policy_text(k);
    hush_err err = {0};
    int rc = store_and_switch(k, pol_text, &err);
    hush_free(pol_text);
    if (rc == HUSH_ESTATE) { /* another node closed it first */
        return hush__fail_set(f, HUSH_ESTATE, "round_closed", "%s", err.msg);
    }
    if (rc != 0) {
        return hush__fail_set(f, rc == HUSH_ENOMEM ? HUSH_ENOMEM : HUSH_EIO,
                              rc == HUSH_ENOMEM ? "internal" : "unavailable",
                              "round %u stays open: %s", k->r->round,
                              err.msg[0] ? err.msg : "out of memory");
    }
    k->store_ms = ms_since(t0);
    char url[128];
    snprintf(url, sizeof url, "/v1/campaigns/%s", k->c->id);
    *out = json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:{s:f, s:f, s:f, s:f, s:f}, s:s}",
        "campaign", k->c->id, "closed", (json_int_t)k->r->round, "round",
        (json_int_t)k->r->round + 1, "n_reports", (json_int_t)k->n_final, "kept",
        (json_int_t)k->survivors, "generated", (json_int_t)k->n_texts, "candidates",
        (json_int_t)(k->survivors + k->n_texts), "timings", "estimate_ms", k->estimate_ms,
        "generate_ms", k->generate_ms, "publish_ms", k->publish_ms, "store_ms",
        k->store_ms, "total_ms", ms_since(k->t_start), "url", url);
    return *out != NULL
               ? 0
               : hush__fail_set(f, HUSH_ENOMEM, "internal",
                                "round %u closed; out of memory answering", k->r->round);
}

/* The steps of a close (see the top of the file); any failure leaves the
 * round open and unchanged. */
static int close_round(hush_collector *h, hush__campaign *c, const json_t *req,
                       json_t **out, hush__fail *f)
{
    closing k = {.h = h, .c = c, .t_start = hush__now()};
    int rc = hush__policy_load(c, req, &k.pol, f);
    if (rc != 0) {
        return rc;
    }
    k.r = hush__round_get(h, c);
    k.pub = k.r->pub;
    double t0 = hush__now();
    if ((rc = close_check(&k, req, f)) == 0 && (rc = close_select(&k, f)) == 0) {
        k.estimate_ms = ms_since(t0);
        t0 = hush__now();
        rc = close_generate(&k, f);
    }
    if (rc == 0) {
        k.generate_ms = ms_since(t0);
        t0 = hush__now();
        rc = close_publish(&k, f);
    }
    if (rc == 0) {
        k.publish_ms = ms_since(t0);
        rc = close_commit(&k, out, f);
    }
    closing_free(&k);
    return rc;
}

int hush__round_close(hush_collector *h, hush__campaign *c, const json_t *req,
                      json_t **out, hush__fail *f)
{
    *out = NULL;
    if (hush__campaign_ended(c, hush__wall())) {
        return hush__fail_set(f, HUSH_ESTATE, "campaign_ended",
                              "the campaign has ended: its rounds are closed for good");
    }
    /* one close at a time per campaign */
    if (__atomic_exchange_n(&c->closing, true, __ATOMIC_ACQ_REL)) {
        return hush__fail_set(f, HUSH_ESTATE, "close_in_progress",
                              "a round of %s is being closed; retry when it is done",
                              c->id);
    }
    int rc = close_round(h, c, req, out, f);
    __atomic_store_n(&c->closing, false, __ATOMIC_RELEASE);
    return rc;
}

/* A stored JSON text as a value (null when absent or unreadable). */
static json_t *stored_json(const char *text)
{
    json_t *v = text != NULL ? json_loads(text, 0, NULL) : NULL;
    return v != NULL ? v : json_null();
}

/* One round of the history as its document, appended to the array. */
static int history_row(void *ctx, const hush__round_history *row, hush_err *err)
{
    json_t *o =
        json_pack("{s:I, s:I, s:o}", "round", (json_int_t)row->round, "opened_at",
                  (json_int_t)row->opened_at, "closed_at",
                  row->closed ? json_integer((json_int_t)row->closed_at) : json_null());
    if (o != NULL && row->closed) {
        json_object_set_new(o, "n_reports", json_integer((json_int_t)row->n_reports));
        json_object_set_new(o, "kept", json_integer((json_int_t)row->kept));
        json_object_set_new(o, "generated", json_integer((json_int_t)row->generated));
        json_object_set_new(o, "timings", stored_json(row->timings));
        json_object_set_new(o, "metrics", stored_json(row->metrics));
        json_object_set_new(o, "policy", stored_json(row->policy));
        json_object_set_new(o, "lineage", stored_json(row->lineage));
    }
    return o != NULL && json_array_append_new(ctx, o) == 0
               ? 0
               : hush_err_set(err, HUSH_ENOMEM, "out of memory");
}

int hush__rounds_json(hush_collector *h, hush__campaign *c, char **body, size_t *len,
                      hush__fail *f)
{
    json_t *arr = json_array();
    hush_err err = {0};
    *body = NULL;
    if (arr == NULL) {
        return hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
    }
    if (h->store->ops->rounds_each(h->store, c->id, history_row, arr, &err) != 0) {
        json_decref(arr);
        return hush__fail_from(f, &err,
                               err.code == HUSH_ENOMEM ? "internal" : "unavailable");
    }
    /* the open round: its live report count (every node's) */
    hush__round *r = hush__round_get(h, c);
    uint64_t n = hush__round_count(r);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *o = json_array_get(arr, i);
        if (json_integer_value(json_object_get(o, "round")) == r->round) {
            json_object_set_new(o, "n_reports", json_integer((json_int_t)n));
            json_object_set_new(o, "candidates",
                                json_integer((json_int_t)r->pub->n_candidates));
        }
    }
    json_t *doc = json_pack("{s:s, s:I, s:o}", "campaign", c->id, "round",
                            (json_int_t)r->round, "rounds", arr);
    hush__round_put(r);
    *body =
        doc != NULL ? hush_json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(doc);
    if (*body == NULL) {
        return hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
    }
    *len = strlen(*body);
    return 0;
}

/* ---- automatic rounds ---- */

static void auto_check(hush_collector *h, hush__campaign *c)
{
    policy pol;
    hush__fail f = {0};
    if (hush__campaign_ended(c, hush__wall()) ||
        hush__policy_load(c, NULL, &pol, &f) != 0 ||
        (pol.auto_reports == 0 && pol.auto_seconds == 0) || hush__now() < c->auto_retry) {
        return;
    }
    hush__round *r = hush__round_get(h, c);
    uint64_t n = hush__round_count(r);
    bool due = (pol.auto_reports > 0 && n >= (uint64_t)pol.auto_reports) ||
               (pol.auto_seconds > 0 &&
                hush__now() - r->opened_mono >= (double)pol.auto_seconds);
    uint32_t round = r->round;
    hush__round_put(r);
    if (!due) {
        return;
    }
    json_t *out = NULL;
    if (hush__round_close(h, c, NULL, &out, &f) != 0 && f.reason != NULL &&
        strcmp(f.reason, "round_closed") == 0) {
        /* another node was first; the poller switches this one over */
        hush__log(h, "info", "%s round %u was closed by another node", c->id, round);
        c->auto_retry = hush__now() + 2.0 * h->cfg.poll_interval_s;
    } else if (out == NULL) {
        hush__log(h, "error",
                  "automatic close of %s round %u failed (%s): %s; retrying in 60 s",
                  c->id, round, f.reason != NULL ? f.reason : hush_strerror(f.err.code),
                  f.err.msg);
        c->auto_retry = hush__now() + 60;
    } else {
        hush__log(h, "info", "closed %s round %u automatically", c->id, round);
    }
    json_decref(out);
}

/* Once a second: automatic closes that are due, model rounds past their
 * deadline. */
static void refiner_tick(void *ctx)
{
    hush_collector *h = ctx;
    pthread_rwlock_rdlock(&h->campaigns_lock);
    size_t n = h->n_campaigns;
    pthread_rwlock_unlock(&h->campaigns_lock);
    for (size_t i = 0; i < n; i++) {
        pthread_rwlock_rdlock(&h->campaigns_lock);
        hush__campaign *c = h->campaigns[i];
        pthread_rwlock_unlock(&h->campaigns_lock);
        auto_check(h, c);
    }
    hush__tasks_tick(h); /* model rounds past their deadline */
}

int hush__refiner_start(hush_collector *h, hush_err *err)
{
    return hush__ticker_start(&h->refiner, 1, refiner_tick, h, "refiner", err);
}

void hush__refiner_stop(hush_collector *h)
{
    hush__ticker_stop(&h->refiner);
}

/* ---- the public corpus ---- */

int hush__corpus_load(hush_collector *h, hush_err *err)
{
    if (h->cfg.generator_corpus[0] == '\0') {
        return 0;
    }
    FILE *f = fopen(h->cfg.generator_corpus, "r");
    if (f == NULL) {
        return hush_err_set(err, HUSH_EIO, "cannot open the generator corpus %s: %s",
                            h->cfg.generator_corpus, strerror(errno));
    }
    hush__buf lb;
    hush__buf_init(&lb, HUSH__CORPUS_LINE_MAX);
    size_t n_cap = 0, line_no = 0;
    int rc = 0, got;
    while (rc == 0 && (got = hush__buf_getline(&lb, f)) != 0) {
        line_no++;
        if (got < 0) {
            rc = hush_err_set(err, got, "%s:%zu: %s", h->cfg.generator_corpus, line_no,
                              got == HUSH_ETOOBIG ? "a line longer than 16 MiB"
                                                  : hush_strerror(got));
            break;
        }
        if (lb.len == 0) {
            continue;
        }
        const char *line = lb.data;
        const char *text = line;
        size_t len = lb.len;
        json_t *doc = NULL;
        if (line[0] == '{') {
            doc = json_loadb(line, len, 0, NULL);
            text = json_string_value(json_object_get(doc, "text"));
            len = text != NULL ? json_string_length(json_object_get(doc, "text")) : 0;
            if (text == NULL) {
                rc = hush_err_set(err, HUSH_EINVAL,
                                  "%s:%zu: a JSON line needs a \"text\" string",
                                  h->cfg.generator_corpus, line_no);
            }
        }
        if (rc == 0 && len > 0) {
            if (h->n_corpus == n_cap) {
                size_t grow = n_cap ? n_cap * 2 : 256;
                char **g = hush_realloc(h->corpus, grow * sizeof *g);
                if (g == NULL) {
                    rc = hush_err_set(err, HUSH_ENOMEM,
                                      "out of memory reading the corpus");
                } else {
                    h->corpus = g;
                    n_cap = grow;
                }
            }
            if (rc == 0) {
                h->corpus[h->n_corpus] = hush_malloc(len + 1);
                if (h->corpus[h->n_corpus] == NULL) {
                    rc = hush_err_set(err, HUSH_ENOMEM,
                                      "out of memory reading the corpus");
                } else {
                    memcpy(h->corpus[h->n_corpus], text, len);
                    h->corpus[h->n_corpus][len] = '\0';
                    h->n_corpus++;
                }
            }
        }
        json_decref(doc);
    }
    hush__buf_free(&lb);
    fclose(f);
    return rc;
}

void hush__corpus_free(hush_collector *h)
{
    hush__texts_free(h->corpus, h->n_corpus);
    h->corpus = NULL;
    h->n_corpus = 0;
}
