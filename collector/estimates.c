/*
 * estimates.c - what a campaign's votes say: the ranked estimates of its
 * open round (cached per aggregate version) and of its closed rounds (as
 * frozen when they closed), and the one ranking both and the refinement
 * use.
 */
#include <stdio.h>
#include <stdlib.h>

#include "domain.h"
#include "hush_json.h"

#define DEFAULT_TOP 100

struct ranked {
    uint32_t item;
    double estimate;
};

static int by_estimate(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->estimate != y->estimate) {
        return x->estimate < y->estimate ? 1 : -1;
    }
    return (x->item > y->item) - (x->item < y->item);
}

uint32_t *hush__rank(const hush_ldp_estimate *est, const uint32_t *by, uint32_t n)
{
    struct ranked *r = hush_malloc((n + 1) * sizeof *r);
    uint32_t *order = hush_malloc((n + 1) * sizeof *order);
    if (r == NULL || order == NULL) {
        hush_free(r);
        hush_free(order);
        return NULL;
    }
    for (uint32_t i = 0; i < n; i++) {
        r[i] = (struct ranked){i, est[by != NULL ? by[i] : i].count};
    }
    qsort(r, n, sizeof *r, by_estimate);
    for (uint32_t i = 0; i < n; i++) {
        order[i] = r[i].item;
    }
    hush_free(r);
    return order;
}

/* The estimates document of a round: the top `top` items of `est` (NULL:
 * withheld below min_reports).  New reference, or NULL (ENOMEM). */
json_t *hush__estimates_doc(const char *campaign, const hush__round *r, uint64_t n,
                            const hush_ldp_estimate *est, uint64_t top)
{
    const hush_publication *pub = r->pub;
    const hush_ldp_params *p = &pub->params;
    uint32_t d = p->domain;
    json_t *doc = json_pack(
        "{s:s, s:I, s:I, s:f, s:s, s:I}", "campaign", campaign, "round",
        (json_int_t)r->round, "n_reports", (json_int_t)n, "epsilon", p->epsilon,
        "mechanism", hush_ldp_mechanism_name(p->mechanism), "candidates", (json_int_t)d);
    if (doc != NULL && est == NULL) {
        char reason[160];
        snprintf(
            reason, sizeof reason,
            "estimates are withheld until the round holds %llu reports (it holds %llu)",
            (unsigned long long)pub->min_reports, (unsigned long long)n);
        json_object_set_new(doc, "withheld", json_true());
        json_object_set_new(doc, "reason", json_string(reason));
        json_object_set_new(doc, "min_reports",
                            json_integer((json_int_t)pub->min_reports));
    } else if (doc != NULL) {
        bool exact = p->mechanism != HUSH_LDP_CMS && p->mechanism != HUSH_LDP_HCMS;
        uint32_t *order = hush__rank(est, NULL, d);
        json_t *items = json_array();
        for (uint64_t k = 0; order != NULL && items != NULL && k < top; k++) {
            uint32_t i = order[k];
            bool none = i >= pub->n_candidates;
            json_t *o = json_pack(
                "{s:s, s:s, s:f, s:f, s:[f, f], s:f, s:b}", "candidate_id",
                none ? HUSH_NO_MATCH_ID : pub->candidate_ids[i], "text",
                none ? "" : pub->candidate_texts[i], "estimate", est[i].count,
                "std_error", est[i].std_error, "ci95", est[i].ci_low, est[i].ci_high,
                "frequency", est[i].frequency, "significant", est[i].significant);
            if (o != NULL && !exact) {
                json_object_set_new(o, "significant", json_null());
            }
            json_array_append_new(items, o);
        }
        json_object_set_new(doc, "withheld", json_false());
        json_object_set_new(doc, "top", json_integer((json_int_t)top));
        /* what the flag and the intervals claim, and what they do not */
        json_object_set_new(
            doc, "significance",
            exact ? json_pack("{s:s, s:f, s:s}", "method", "exact-binomial-bonferroni",
                              "family_wise_alpha", 0.05, "claim",
                              "the chance that any absent candidate is flagged is at "
                              "most 5%")
                  : json_pack("{s:s, s:s}", "method", "none", "claim",
                              "no significance claim: with one published hash seed, "
                              "candidates that collide with popular items are inflated "
                              "in every round; estimates are unbiased on average over "
                              "hash families, not for this seed"));
        json_object_set_new(
            doc, "ci_method",
            json_string(exact ? "clopper-pearson on the support count (normal beyond "
                                "2000 supports), within [0, n_reports]"
                              : "estimate +- 1.96 std_error"));
        json_object_set_new(doc, "items", items != NULL ? items : json_array());
        if (order == NULL || items == NULL) {
            json_decref(doc);
            doc = NULL;
        }
        hush_free(order);
    }
    return doc;
}

/* The top `top` items (0: the default) of a round of `d` candidates. */
static int top_of(uint64_t top, uint64_t d, uint64_t *out, hush__fail *f)
{
    if (top > d) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_top",
                              "top must be an integer in [1, %llu]",
                              (unsigned long long)d);
    }
    *out = top != 0 ? top : d < DEFAULT_TOP ? d : DEFAULT_TOP;
    return 0;
}

/* A closed round's estimates, as frozen when it closed, cut to `top`. */
static int closed_estimates(hush_collector *h, hush__campaign *c, uint32_t round,
                            uint64_t top, char **body, size_t *len, hush__fail *f)
{
    char *frozen = NULL;
    hush_err err = {0};
    int rc = h->store->ops->round_estimates(h->store, c->id, round, &frozen, &err);
    if (rc == HUSH_ENOTFOUND) {
        return hush__fail_set(f, HUSH_ENOTFOUND, "unknown_round",
                              "campaign %s has no closed round %u with estimates", c->id,
                              round);
    }
    if (rc != 0) {
        return hush__fail_from(f, &err, "unavailable");
    }
    int jcode = 0;
    json_t *doc = hush__json_loadb(frozen, strlen(frozen), 0, NULL, &jcode);
    hush_free(frozen);
    if (doc == NULL) {
        return jcode == HUSH_ENOMEM
                   ? hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory")
                   : hush__fail_set(f, HUSH_ECORRUPT, "internal",
                                    "a stored estimate does not parse");
    }
    json_t *items = json_object_get(doc, "items");
    uint64_t d = (uint64_t)json_integer_value(json_object_get(doc, "candidates"));
    if ((rc = top_of(top, d, &top, f)) != 0) {
        json_decref(doc);
        return rc;
    }
    if (json_is_array(items)) {
        while (json_array_size(items) > top) {
            json_array_remove(items, json_array_size(items) - 1);
        }
        json_object_set_new(doc, "top", json_integer((json_int_t)top));
    }
    *body = hush_json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(doc);
    if (*body == NULL) {
        return hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
    }
    *len = strlen(*body);
    return 0;
}

/* A copy of the cached body for (version, top), or NULL (under r->lock). */
static bool cache_lookup(hush__round *r, uint64_t top, char **body, size_t *len)
{
    for (unsigned i = 0; i < HUSH__EST_CACHE; i++) {
        if (r->cache[i].json != NULL && r->cache[i].version == r->version &&
            r->cache[i].top == top) {
            *body = hush_malloc(r->cache[i].len + 1);
            if (*body != NULL) {
                memcpy(*body, r->cache[i].json, r->cache[i].len + 1);
                *len = r->cache[i].len;
            }
            return true;
        }
    }
    return false;
}

/* Keeps a copy of body for the next poll at this version. */
static void cache_store(hush__round *r, uint64_t version, uint64_t top, const char *body,
                        size_t len)
{
    pthread_mutex_lock(&r->lock);
    unsigned slot = r->cache_next++ % HUSH__EST_CACHE;
    hush_free(r->cache[slot].json);
    r->cache[slot].json = hush_malloc(len + 1);
    if (r->cache[slot].json != NULL) {
        memcpy(r->cache[slot].json, body, len + 1);
        r->cache[slot].len = len;
        r->cache[slot].version = version;
        r->cache[slot].top = (uint32_t)top;
    }
    pthread_mutex_unlock(&r->lock);
}

/* The open round's estimates as they stand. */
static int open_estimates(const hush_collector *h, hush__campaign *c, hush__round *r,
                          uint64_t top, char **body, size_t *len, uint64_t *at,
                          hush__fail *f)
{
    uint32_t d = r->pub->params.domain;
    int rc = top_of(top, d, &top, f);
    if (rc != 0) {
        return rc;
    }
    pthread_mutex_lock(&r->lock);
    *at = r->version;
    if (cache_lookup(r, top, body, len)) {
        pthread_mutex_unlock(&r->lock);
        return *body != NULL
                   ? 0
                   : hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
    }
    uint64_t version = r->version;
    hush_ldp_agg *tmp = NULL;
    const hush_ldp_agg *all = hush__round_total(r, &tmp); /* with other nodes' */
    uint64_t n = all != NULL ? hush_ldp_agg_count(all) : 0;
    hush_ldp_estimate *est = NULL;
    hush_err err = {0};
    if (all == NULL) {
        rc = hush_err_set(&err, HUSH_ENOMEM, "out of memory");
    } else if (n >= r->pub->min_reports) {
        est = hush_calloc(d, sizeof *est);
        rc = est != NULL ? hush_ldp_agg_estimate(all, 0.0, est, d, &err)
                         : hush_err_set(&err, HUSH_ENOMEM, "out of memory");
    }
    json_t *nodes = hush__peers_doc(h, r);
    pthread_mutex_unlock(&r->lock);
    hush_ldp_agg_free(tmp);
    if (rc != 0) {
        hush_free(est);
        json_decref(nodes);
        return hush__fail_internal(f, &err);
    }
    json_t *doc = hush__estimates_doc(c->id, r, n, est, top);
    hush_free(est);
    if (doc != NULL && nodes != NULL) {
        json_object_set_new(doc, "nodes", nodes);
    } else {
        json_decref(nodes);
    }
    *body =
        doc != NULL ? hush_json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(doc);
    if (*body == NULL) {
        return hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
    }
    *len = strlen(*body);
    cache_store(r, version, top, *body, *len);
    return 0;
}

void hush__estimates_state(hush_collector *h, hush__campaign *c, uint64_t round,
                           hush__est_state *state)
{
    hush__round *r = hush__round_get(h, c);
    state->round = round == 0 ? r->round : round <= r->round ? (uint32_t)round : 0;
    if (round == 0 || round == r->round) {
        pthread_mutex_lock(&r->lock);
        state->version = r->version;
        pthread_mutex_unlock(&r->lock);
    } else {
        state->version = HUSH__EST_FROZEN;
    }
    hush__round_put(r);
}

int hush__estimates(hush_collector *h, hush__campaign *c, uint64_t round, uint64_t top,
                    char **body, size_t *len, hush__est_state *state, hush__fail *f)
{
    *body = NULL;
    *len = 0;
    hush__round *r = hush__round_get(h, c);
    uint32_t current = r->round;
    int rc;
    state->round = round == 0 ? current : (uint32_t)round;
    state->version = HUSH__EST_FROZEN;
    if (round == 0 || round == current) {
        rc = open_estimates(h, c, r, top, body, len, &state->version, f);
        hush__round_put(r);
        return rc;
    }
    hush__round_put(r);
    if (round > current) {
        return hush__fail_set(f, HUSH_ENOTFOUND, "unknown_round",
                              "round %llu of %s is not open yet (current round %u)",
                              (unsigned long long)round, c->id, current);
    }
    return closed_estimates(h, c, (uint32_t)round, top, body, len, f);
}
