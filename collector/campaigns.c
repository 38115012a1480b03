/*
 * campaigns.c - creating campaigns, publishing their signed rounds, and
 * serving their estimates.
 *
 * A campaign is created from an admin request, turned into a publication
 * document (the parameters, the candidates, for synthetic campaigns the
 * embedder and the int8 candidate matrix), signed with the collector's
 * Ed25519 key, stored, and installed.  Installing goes through the same
 * parser devices use (hush_publication_parse), at creation and at every
 * restart, so the collector never serves a publication a device would
 * refuse.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "domain.h"

#define NAME_MAX_LEN 200
#define MAX_CANDIDATES 100000
#define MAX_REPORT_BITS (1 << 20)

/* ---- the registry ---- */

hush__campaign *hush__campaign_find(hush_collector *h, const char *id)
{
    hush__campaign *found = NULL;
    pthread_rwlock_rdlock(&h->campaigns_lock);
    for (size_t i = 0; i < h->n_campaigns && found == NULL; i++) {
        if (strcmp(h->campaigns[i]->id, id) == 0) {
            found = h->campaigns[i];
        }
    }
    pthread_rwlock_unlock(&h->campaigns_lock);
    return found;
}

static void round_free(hush__round *r)
{
    if (r == NULL) {
        return;
    }
    hush_ldp_agg_free(r->agg);
    hush_ldp_agg_free(r->peers);
    json_decref(r->peer_nodes);
    for (unsigned i = 0; i < HUSH__EST_CACHE; i++) {
        hush_free(r->cache[i].json);
    }
    pthread_mutex_destroy(&r->lock);
    hush_free(r->pub_body);
    hush_free(r->signature);
    hush_free(r->dev_body);
    hush_free(r->dev_signature);
    hush_publication_free(r->pub);
    hush_ldp_free(r->mech);
    hush_free(r);
}

hush__round *hush__round_get(hush_collector *h, hush__campaign *c)
{
    pthread_rwlock_rdlock(&h->campaigns_lock);
    hush__round *r = c->cur;
    __atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
    pthread_rwlock_unlock(&h->campaigns_lock);
    return r;
}

void hush__round_put(hush__round *r)
{
    if (r != NULL && __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        round_free(r);
    }
}

void hush__campaign_free(hush__campaign *c)
{
    if (c == NULL) {
        return;
    }
    hush_free(c->name);
    hush_free(c->spec);
    hush__round_put(c->cur);
    hush_free(c);
}

/* Called with campaigns_lock held (read or write). */
char *hush__campaigns_list_json(hush_collector *h, bool all, int64_t now,
                                int64_t *valid_until)
{
    json_t *arr = json_array();
    int64_t until = INT64_MAX;
    for (size_t i = 0; arr != NULL && i < h->n_campaigns; i++) {
        const hush__campaign *c = h->campaigns[i];
        const hush_publication *p = c->cur->pub;
        bool ended = hush__campaign_ended(c, now);
        if (!ended && c->ends_at != 0 && c->ends_at < until) {
            until = c->ends_at; /* the list changes then */
        }
        if (ended && !all) {
            continue; /* devices see the active ones */
        }
        json_t *o = json_pack(
            "{s:s, s:s, s:s, s:I, s:s, s:I, s:I, s:s}", "id", c->id, "name", c->name,
            "kind", p->kind == HUSH_CAMPAIGN_POLL ? "poll" : "synthetic", "round",
            (json_int_t)c->cur->round, "mechanism",
            hush_ldp_mechanism_name(p->params.mechanism), "candidates",
            (json_int_t)p->n_candidates, "created_at", (json_int_t)c->created_at, "state",
            ended ? "ended" : "active");
        if (o != NULL) { /* what a device is charged, and when estimates show */
            json_object_set_new(o, "epsilon", json_real(p->params.epsilon));
            json_object_set_new(o, "budget",
                                json_pack("{s:I, s:f}", "reports_per_device_per_day",
                                          (json_int_t)p->reports_per_device_per_day,
                                          "epsilon_per_device_per_day",
                                          p->epsilon_per_device_per_day));
            json_object_set_new(o, "min_reports",
                                json_integer((json_int_t)p->min_reports));
        }
        int64_t ended_at = __atomic_load_n(&c->ended_at, __ATOMIC_ACQUIRE);
        if (o != NULL && c->ends_at != 0) {
            json_object_set_new(o, "ends_at", json_integer(c->ends_at));
        }
        if (o != NULL && ended_at != 0) {
            json_object_set_new(o, "ended_at", json_integer(ended_at));
        }
        int64_t archived_at = __atomic_load_n(&c->archived_at, __ATOMIC_ACQUIRE);
        if (o != NULL && archived_at != 0) {
            json_object_set_new(o, "archived_at", json_integer(archived_at));
        }
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    json_t *doc = arr != NULL ? json_pack("{s:o}", "campaigns", arr) : NULL;
    char *s = doc != NULL ? hush_json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (valid_until != NULL) {
        *valid_until = until;
    }
    return s;
}

int hush__campaigns_list_rebuild(hush_collector *h)
{
    int64_t until = INT64_MAX;
    char *s = hush__campaigns_list_json(h, false, hush__wall(), &until);
    if (s == NULL) {
        return HUSH_ENOMEM;
    }
    hush_free(h->list_json);
    h->list_json = s;
    __atomic_store_n(&h->list_valid_until, until, __ATOMIC_RELEASE);
    return 0;
}

int hush__campaigns_list(hush_collector *h, bool all, char **body, hush__fail *f)
{
    int64_t now = hush__wall();
    if (all) {
        pthread_rwlock_rdlock(&h->campaigns_lock);
        *body = hush__campaigns_list_json(h, true, now, NULL);
        pthread_rwlock_unlock(&h->campaigns_lock);
    } else {
        if (now >= __atomic_load_n(&h->list_valid_until, __ATOMIC_ACQUIRE)) {
            /* a scheduled end passed: the cached list is stale */
            pthread_rwlock_wrlock(&h->campaigns_lock);
            int rc = hush__campaigns_list_rebuild(h);
            pthread_rwlock_unlock(&h->campaigns_lock);
            if (rc != 0) {
                *body = NULL;
                return hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
            }
        }
        pthread_rwlock_rdlock(&h->campaigns_lock);
        *body = hush_strdup(h->list_json);
        pthread_rwlock_unlock(&h->campaigns_lock);
    }
    return *body != NULL ? 0
                         : hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
}

int hush__campaign_view(hush_collector *h, hush__campaign *c, bool device, char **body,
                        size_t *len, char sig[128], hush__fail *f)
{
    if (device && hush__campaign_ended(c, hush__wall())) {
        /* devices stop here; analysts still read the full view */
        return hush__fail_set(f, HUSH_ESTATE, "campaign_ended",
                              "the campaign has ended: it takes no more reports");
    }
    hush__round *r = hush__round_get(h, c);
    device = device && r->dev_body != NULL; /* polls: one view */
    const char *src = device ? r->dev_body : r->pub_body;
    *len = device ? r->dev_len : r->pub_len;
    *body = hush_malloc(*len + 1);
    pthread_mutex_lock(&r->lock); /* a key rotation swaps signatures */
    snprintf(sig, 128, "%s", device ? r->dev_signature : r->signature);
    pthread_mutex_unlock(&r->lock);
    if (*body != NULL) {
        memcpy(*body, src, *len + 1);
    }
    hush__round_put(r);
    return *body != NULL ? 0
                         : hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
}

/* An archive's final state: every node's share, serialized. */
struct archived {
    hush__state_row final;
};

static int archive_final(void *ctx, const hush_ldp_agg *sum, hush_err *err)
{
    struct archived *a = ctx;
    uint8_t *state = NULL;
    hush_free((void *)a->final.state); /* a retried transaction's */
    a->final.state = NULL;
    int rc = hush_ldp_agg_serialize(sum, &state, &a->final.len, err);
    a->final.state = state;
    return rc;
}

int hush__campaign_archive(hush_collector *h, hush__campaign *c, int64_t *when,
                           hush__compaction *out, hush__fail *f)
{
    int64_t now = hush__wall();
    *when = now;
    if (!hush__campaign_ended(c, now)) {
        return hush__fail_set(f, HUSH_ESTATE, "campaign_active",
                              "end the campaign before archiving it");
    }
    if (__atomic_load_n(&c->archived_at, __ATOMIC_ACQUIRE) != 0) {
        return hush__fail_set(f, HUSH_ESTATE, "campaign_archived",
                              "the campaign is archived already");
    }
    hush_err err = {0};
    /* under the write lock: no writer is between a batch's commit and its
     * add, so the aggregate saved here holds every batch of this node's
     * deleted here; the store adds the other nodes' (gathered with the
     * campaign locked against their commits) */
    pthread_rwlock_wrlock(&h->campaigns_lock);
    hush__round *r = c->cur;
    struct archived a = {.final = {c->id, r->round, NULL, 0}};
    hush__gathered ga;
    hush__gathered_init(&ga, r, archive_final, &a);
    int rc = h->store->ops->campaign_archive(h->store, c->id, r->round, &ga.g, &a.final,
                                             now, out, &err);
    if (rc == 0) {
        __atomic_store_n(&c->archived_at, now, __ATOMIC_RELEASE);
        pthread_mutex_lock(&r->lock);
        /* this node's aggregate now is the final one, every node's share:
         * no peers (their checkpoints are gone from the store too) */
        if (ga.sum != NULL) {
            hush_ldp_agg_free(r->agg);
            r->agg = ga.sum;
            ga.sum = NULL;
            hush_ldp_agg_free(r->peers);
            r->peers = NULL;
            json_decref(r->peer_nodes);
            r->peer_nodes = NULL;
            r->version++;
        }
        pthread_mutex_unlock(&r->lock);
    }
    pthread_rwlock_unlock(&h->campaigns_lock);
    hush__gathered_fini(&ga);
    hush_free((void *)a.final.state);
    if (rc != 0) {
        hush__log(h, "error", "archiving %s failed: %s", c->id, err.msg);
        return hush__fail_from(f, &err, rc == HUSH_ENOMEM ? "internal" : "unavailable");
    }
    hush__log(h, "info", "campaign %s archived: %lld batches deleted, %lld bytes freed",
              c->id, (long long)out->batches, (long long)out->bytes);
    return 0;
}

int hush__campaign_end(hush_collector *h, hush__campaign *c, hush_err *err)
{
    int64_t now = hush__wall();
    pthread_rwlock_wrlock(&h->campaigns_lock);
    int rc = 0;
    if (hush__campaign_ended(c, now)) {
        rc = hush_err_set(err, HUSH_ESTATE, "campaign \"%s\" has ended already", c->id);
    } else if ((rc = h->store->ops->campaign_end(h->store, c->id, now, err)) == 0) {
        __atomic_store_n(&c->ended_at, now, __ATOMIC_RELEASE);
        if (hush__campaigns_list_rebuild(h) != 0) {
            /* ended and stored; only the cached list is stale until the next */
        }
    }
    pthread_rwlock_unlock(&h->campaigns_lock);
    return rc;
}

/*
 * Derives and signs the device view of a synthetic publication: the same
 * document with "candidate_count" in place of the candidate list.  Devices
 * match by embedding, so the texts (and ids) would only cost them memory
 * and bandwidth: with 10,000 candidates the list is most of the body and
 * most of a JSON tree's size.  Ed25519 is deterministic, so a restart
 * derives the same bytes and signature.
 */
static int make_device_view(const hush_collector *h, hush__round *r, hush_err *err)
{
    if (r->pub->kind != HUSH_CAMPAIGN_SYNTHETIC) {
        return 0;
    }
    json_t *doc = json_loadb(r->pub_body, r->pub_len, 0, NULL);
    if (doc == NULL || json_object_del(doc, "candidates") != 0 ||
        json_object_set_new(doc, "candidate_count",
                            json_integer((json_int_t)r->pub->n_candidates)) != 0) {
        json_decref(doc);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory deriving a device view");
    }
    r->dev_body = hush_json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(doc);
    if (r->dev_body == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory deriving a device view");
    }
    r->dev_len = strlen(r->dev_body);
    uint8_t sig[crypto_sign_BYTES];
    hush__sign((hush_collector *)h, r->dev_body, r->dev_len, sig);
    r->dev_signature = hush_b64_encode(sig, sizeof sig);
    if (r->dev_signature == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory deriving a device view");
    }
    return 0;
}

int hush__round_new(hush_collector *h, const char *id, uint32_t round, int64_t opened_at,
                    const char *pub_body, size_t pub_len, const char *signature,
                    hush__round **out, hush_err *err)
{
    hush__round *r = hush_calloc(1, sizeof *r);
    if (r == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory for a round");
    }
    pthread_mutex_init(&r->lock, NULL);
    r->refs = 1;
    r->round = round;
    r->opened_at = opened_at;
    r->opened_mono = hush__now();
    r->pub_body = hush_malloc(pub_len + 1);
    r->signature = hush_strdup(signature);
    int rc = 0;
    if (r->pub_body == NULL || r->signature == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory for a round");
        goto out;
    }
    memcpy(r->pub_body, pub_body, pub_len);
    r->pub_body[pub_len] = '\0';
    r->pub_len = pub_len;
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    hush__sign_pk(h, pk);
    if ((rc = hush_publication_verify(pub_body, pub_len, signature, pk, err)) != 0 ||
        (rc = hush_publication_parse(pub_body, pub_len, &r->pub, err)) != 0 ||
        (rc = hush_ldp_new(&r->pub->params, &r->mech, err)) != 0 ||
        (rc = hush_ldp_agg_new(r->mech, &r->agg, err)) != 0) {
        goto out;
    }
    if (strcmp(r->pub->campaign, id) != 0 || r->pub->round != round) {
        rc = hush_err_set(
            err, HUSH_ECORRUPT,
            "the publication of %s round %u names another campaign or round", id, round);
        goto out;
    }
    rc = make_device_view(h, r, err);
out:
    if (rc != 0) {
        round_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int hush__campaign_install(hush_collector *h, const char *id, const char *name,
                           int64_t created_at, const char *spec, hush__round *round,
                           hush_err *err)
{
    hush__campaign *c = hush_calloc(1, sizeof *c);
    if (c == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory installing a campaign");
    }
    snprintf(c->id, sizeof c->id, "%s", id);
    c->created_at = created_at;
    json_t *sj = json_loads(spec, 0, NULL);
    const json_t *ends = json_object_get(sj, "ends_at");
    c->ends_at = json_is_integer(ends) ? (int64_t)json_integer_value(ends) : 0;
    c->require_tokens = json_is_true(json_object_get(sj, "require_tokens"));
    json_decref(sj);
    c->name = hush_strdup(name);
    c->spec = hush_strdup(spec);
    if (c->name == NULL || c->spec == NULL) {
        hush__campaign_free(c);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory installing a campaign");
    }
    pthread_rwlock_wrlock(&h->campaigns_lock);
    for (size_t i = 0; i < h->n_campaigns; i++) {
        if (strcmp(h->campaigns[i]->id, id) == 0) {
            /* installed meanwhile (on a shared store, by this node's poller
             * from the row its creation had just saved) */
            pthread_rwlock_unlock(&h->campaigns_lock);
            hush__campaign_free(c);
            return hush_err_set(err, HUSH_EEXIST, "campaign %s is installed already", id);
        }
    }
    if (h->n_campaigns == h->cap_campaigns) {
        size_t cap = h->cap_campaigns ? h->cap_campaigns * 2 : 16;
        hush__campaign **grown = hush_realloc(h->campaigns, cap * sizeof *grown);
        if (grown == NULL) {
            pthread_rwlock_unlock(&h->campaigns_lock);
            hush__campaign_free(c);
            return hush_err_set(err, HUSH_ENOMEM, "out of memory installing a campaign");
        }
        h->campaigns = grown;
        h->cap_campaigns = cap;
    }
    c->cur = round; /* the campaign takes the caller's reference */
    h->campaigns[h->n_campaigns++] = c;
    int rc = hush__campaigns_list_rebuild(h);
    pthread_rwlock_unlock(&h->campaigns_lock);
    if (rc != 0) {
        /* the campaign is installed; only the list body is stale */
        return hush_err_set(err, rc, "out of memory listing campaigns");
    }
    return 0;
}

/* ---- creation ---- */

static bool valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > HUSH_CAMPAIGN_ID_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '-' || ch == '_')) {
            return false;
        }
    }
    return true;
}

/* The candidates as [{"id","text"}]: strings get ids c0, c1, ... */
static json_t *normalize_candidates(const json_t *in, hush__fail *f)
{
    size_t n = json_array_size(in);
    if (!json_is_array(in) || n == 0 || n > MAX_CANDIDATES) {
        hush__fail_set(
            f, HUSH_EINVAL, "invalid_candidates",
            "\"candidates\" must be an array of 1 to %d strings or {\"id\",\"text\"} "
            "objects",
            MAX_CANDIDATES);
        return NULL;
    }
    json_t *out = json_array();
    for (size_t i = 0; out != NULL && i < n; i++) {
        const json_t *c = json_array_get(in, i);
        json_t *o = NULL;
        if (json_is_string(c)) {
            char id[32];
            snprintf(id, sizeof id, "c%zu", i);
            o = json_pack("{s:s, s:O}", "id", id, "text", c);
        } else if (json_is_object(c) && json_is_string(json_object_get(c, "id")) &&
                   json_is_string(json_object_get(c, "text")) &&
                   json_object_size(c) == 2) {
            o = json_pack("{s:O, s:O}", "id", json_object_get(c, "id"), "text",
                          json_object_get(c, "text"));
        } else {
            json_decref(out);
            hush__fail_set(
                f, HUSH_EINVAL, "invalid_candidates",
                "candidate %zu must be a string or {\"id\": string, \"text\": string}",
                i);
            return NULL;
        }
        json_array_append_new(out, o);
    }
    return out;
}

static int resolve_mechanism(const json_t *req, uint32_t domain, double epsilon,
                             hush_ldp_params *params, hush__fail *f)
{
    const json_t *mech = json_object_get(req, "mechanism");
    const json_t *bits = json_object_get(req, "max_report_bits");
    hush_err err = {0};
    int64_t max_bits = 64;
    if (bits != NULL) {
        if (!json_is_integer(bits) || json_integer_value(bits) < 1 ||
            json_integer_value(bits) > MAX_REPORT_BITS) {
            return hush__fail_set(f, HUSH_EINVAL, "invalid_mechanism",
                                  "\"max_report_bits\" must be an integer in [1, %d]",
                                  MAX_REPORT_BITS);
        }
        max_bits = json_integer_value(bits);
    }
    if (mech == NULL ||
        (json_is_string(mech) && strcmp(json_string_value(mech), "auto") == 0)) {
        if (hush_ldp_recommend(domain, epsilon, (unsigned)max_bits, params, &err) != 0) {
            return hush__fail_set(f, HUSH_EINVAL, "invalid_mechanism", "%s", err.msg);
        }
        return 0;
    }
    if (json_is_string(mech)) {
        memset(params, 0, sizeof *params);
        if (hush_ldp_mechanism_parse(json_string_value(mech), &params->mechanism, &err) !=
            0) {
            return hush__fail_set(f, HUSH_EINVAL, "invalid_mechanism", "%s", err.msg);
        }
    } else if (json_is_object(mech)) {
        json_t *copy = json_deep_copy(mech);
        if (json_object_get(copy, "domain") == NULL) {
            json_object_set_new(copy, "domain", json_integer(domain));
        }
        if (json_object_get(copy, "epsilon") == NULL) {
            json_object_set_new(copy, "epsilon", json_real(epsilon));
        }
        int rc = hush_wire_params_from_json(copy, params, &err);
        json_decref(copy);
        if (rc != 0) {
            return hush__fail_set(f, HUSH_EINVAL, "invalid_mechanism", "%s", err.msg);
        }
        if (params->domain != domain || params->epsilon != epsilon) {
            return hush__fail_set(
                f, HUSH_EINVAL, "invalid_mechanism",
                "mechanism domain and epsilon must match the campaign (%u, %g)", domain,
                epsilon);
        }
    } else {
        return hush__fail_set(
            f, HUSH_EINVAL, "invalid_mechanism",
            "\"mechanism\" must be \"auto\", a mechanism name, or an object");
    }
    params->domain = domain;
    params->epsilon = epsilon;
    if (params->mechanism == HUSH_LDP_CMS || params->mechanism == HUSH_LDP_HCMS) {
        if (params->hash_seed == 0) {
            randombytes_buf(&params->hash_seed, sizeof params->hash_seed);
        }
    }
    hush_ldp *m = NULL;
    if (hush_ldp_new(params, &m, &err) != 0) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_mechanism", "%s", err.msg);
    }
    *params = *hush_ldp_get_params(m);
    hush_ldp_free(m);
    return 0;
}

/* Synthetic campaigns: the embedder and the int8 matrix of the candidates. */
static int embed_candidates(const hush_wordvec *wordvec, const json_t *emb,
                            const json_t *cands, json_t **embedder_out, char **matrix_b64,
                            hush__fail *f)
{
    char *desc = NULL;
    hush_err err = {0};
    hush_embedder *e = NULL;
    if (emb == NULL) {
        uint64_t seed;
        randombytes_buf(&seed, sizeof seed);
        if (hush_embedder_new_default(256, seed >> 11, &e, &err) != 0) {
            return hush__fail_set(f, HUSH_EINTERNAL, "internal", "%s", err.msg);
        }
    } else {
        desc = json_is_object(emb)
                   ? hush_json_dumps(emb, JSON_COMPACT | JSON_REAL_PRECISION(17))
                   : NULL;
        if (desc == NULL ||
            hush_embedder_new(desc, strlen(desc), NULL, 0, wordvec, &e, &err) != 0) {
            hush_free(desc);
            return hush__fail_set(
                f, HUSH_EINVAL, "invalid_embedder", "%s",
                err.msg[0] ? err.msg : "\"embedder\" must be a description object");
        }
        hush_free(desc);
    }
    uint32_t dim = hush_embedder_dim(e);
    size_t n = json_array_size(cands);
    hush_matrix *m = NULL;
    float *v = hush_malloc(dim * sizeof *v);
    int rc = v != NULL ? hush_matrix_new(HUSH_MATRIX_I8, (uint32_t)n, dim, &m, &err)
                       : HUSH_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const json_t *t = json_object_get(json_array_get(cands, i), "text");
        hush_err e2 = {0};
        int r =
            hush_embed_text(e, json_string_value(t), json_string_length(t), v, dim, &e2);
        if (r != 0) {
            rc = hush__fail_set(f, HUSH_EINVAL, "invalid_candidates", "candidate %zu: %s",
                                i, e2.msg);
            break;
        }
        rc = hush_matrix_set_row(m, (uint32_t)i, v, dim, &err);
    }
    char *canon = NULL;
    if (rc == 0 && (hush_matrix_to_base64(m, matrix_b64, &err) != 0 ||
                    hush_embedder_describe(e, &canon, &err) != 0)) {
        rc = hush__fail_set(f, HUSH_EINTERNAL, "internal", "%s", err.msg);
    }
    if (rc == 0) {
        *embedder_out = json_loads(canon, 0, NULL);
        rc = *embedder_out != NULL
                 ? 0
                 : hush__fail_set(f, HUSH_ENOMEM, "internal", "no memory");
    } else if (rc > 0) {
        rc = hush__fail_set(f, HUSH_EINTERNAL, "internal", "%s", err.msg);
    }
    hush_free(canon);
    hush_free(v);
    hush_matrix_free(m);
    hush_embedder_free(e);
    return rc;
}

static const char *const create_fields[] = {"id",
                                            "name",
                                            "kind",
                                            "candidates",
                                            "epsilon",
                                            "mechanism",
                                            "max_report_bits",
                                            "budget",
                                            "match_threshold",
                                            "embedder",
                                            "min_reports",
                                            "refine",
                                            "ends_at",
                                            "require_tokens",
                                            NULL};

/* What a creation request says, checked. */
typedef struct campaign_spec {
    char id[HUSH_CAMPAIGN_ID_MAX + 1];
    hush__pub_spec ps;
} campaign_spec;

/* Every field known; the id (or a random one), name, kind and epsilon. */
static int read_identity(hush_collector *h, const json_t *req, campaign_spec *cs,
                         hush__fail *f)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)req, key, val)
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
    const json_t *jid = json_object_get(req, "id");
    if (jid != NULL && (!json_is_string(jid) || !valid_id(json_string_value(jid)))) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_id",
                              "\"id\" must be 1 to %d letters, digits, '-' or '_'",
                              HUSH_CAMPAIGN_ID_MAX);
    }
    if (jid != NULL) {
        snprintf(cs->id, sizeof cs->id, "%s", json_string_value(jid));
    } else {
        uint8_t raw[8];
        randombytes_buf(raw, sizeof raw);
        cs->id[0] = 'c';
        sodium_bin2hex(cs->id + 1, sizeof cs->id - 1, raw, sizeof raw);
    }
    cs->ps.id = cs->id;
    if (hush__campaign_find(h, cs->id) != NULL) {
        return hush__fail_set(f, HUSH_EEXIST, "exists", "campaign \"%s\" already exists",
                              cs->id);
    }
    const char *name = json_string_value(json_object_get(req, "name"));
    if (name == NULL || strlen(name) == 0 || strlen(name) > NAME_MAX_LEN) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_name",
                              "\"name\" must be a string of 1 to %d bytes", NAME_MAX_LEN);
    }
    cs->ps.name = name;
    const char *kind = json_string_value(json_object_get(req, "kind"));
    cs->ps.synthetic = kind != NULL && strcmp(kind, "synthetic") == 0;
    if (kind == NULL || (!cs->ps.synthetic && strcmp(kind, "poll") != 0)) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_kind",
                              "\"kind\" must be \"poll\" or \"synthetic\"");
    }
    const json_t *eps = json_object_get(req, "epsilon");
    if (!json_is_number(eps) || !(json_number_value(eps) >= HUSH_LDP_EPSILON_MIN) ||
        !(json_number_value(eps) <= HUSH_LDP_EPSILON_MAX)) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_epsilon",
                              "\"epsilon\" must be a number in [%g, %g] (got %.17g)",
                              HUSH_LDP_EPSILON_MIN, HUSH_LDP_EPSILON_MAX,
                              json_is_number(eps) ? json_number_value(eps) : NAN);
    }
    cs->ps.epsilon = json_number_value(eps);
    return 0;
}

/* The devices' budget: reports and epsilon a day.  A device can never
 * spend more than a report's epsilon times its reports a day: a larger
 * daily budget is a mistake (1e308 was taken). */
static int read_budget(const json_t *req, campaign_spec *cs, hush__fail *f)
{
    const json_t *budget = json_object_get(req, "budget");
    /* a field the budget does not know is refused by name, not ignored
     * (json_unpack_ex's JSON_STRICT would refuse it too, but not name it) */
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)budget, key, val)
    {
        if (strcmp(key, "reports_per_device_per_day") != 0 &&
            strcmp(key, "epsilon_per_device_per_day") != 0) {
            return hush__fail_set(f, HUSH_EINVAL, "invalid_budget",
                                  "unknown field \"budget.%s\"", key);
        }
    }
    double epsilon = cs->ps.epsilon;
    const json_t *rpd = json_object_get(budget, "reports_per_device_per_day");
    const json_t *epd = json_object_get(budget, "epsilon_per_device_per_day");
    json_int_t reports_per_day =
        rpd != NULL ? (json_is_integer(rpd) ? json_integer_value(rpd) : -1) : 1;
    double eps_per_day = epd != NULL ? (json_is_number(epd) ? json_number_value(epd) : -1)
                                     : epsilon * (double)reports_per_day;
    if ((budget != NULL && !json_is_object(budget)) || reports_per_day < 1 ||
        reports_per_day > 10000 || !(eps_per_day >= epsilon) ||
        !(eps_per_day <= epsilon * (double)reports_per_day * (1 + 1e-12))) {
        return hush__fail_set(
            f, HUSH_EINVAL, "invalid_budget",
            "\"budget\" needs reports_per_device_per_day in [1, 10000] and "
            "epsilon_per_device_per_day in [epsilon, epsilon x reports a day] = [%g, %g]",
            epsilon, epsilon * (double)(reports_per_day >= 1 ? reports_per_day : 1));
    }
    cs->ps.reports_per_day = reports_per_day;
    cs->ps.eps_per_day = eps_per_day;
    return 0;
}

/* The end date, the reports before estimates show, and what only a
 * synthetic campaign may say (match threshold, embedder, refinement). */
static int read_rules(const json_t *req, campaign_spec *cs, hush__fail *f)
{
    bool synthetic = cs->ps.synthetic;
    const json_t *ends = json_object_get(req, "ends_at");
    if (ends != NULL &&
        (!json_is_integer(ends) || json_integer_value(ends) <= hush__wall() ||
         json_integer_value(ends) > hush__wall() + 20 * 366 * 86400LL)) {
        return hush__fail_set(
            f, HUSH_EINVAL, "invalid_ends_at",
            "\"ends_at\" must be a time in the future (seconds since 1970, within 20 "
            "years)");
    }
    const json_t *tokens = json_object_get(req, "require_tokens");
    if (tokens != NULL && !json_is_boolean(tokens)) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_require_tokens",
                              "\"require_tokens\" must be true or false");
    }
    const json_t *minr = json_object_get(req, "min_reports");
    cs->ps.min_reports =
        minr != NULL ? (json_is_integer(minr) ? json_integer_value(minr) : -1) : 100;
    if (cs->ps.min_reports < 0) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_min_reports",
                              "\"min_reports\" must be a non-negative integer");
    }
    const json_t *thr = json_object_get(req, "match_threshold");
    cs->ps.threshold =
        thr != NULL ? (json_is_number(thr) ? json_number_value(thr) : 2.0) : 0.3;
    if (synthetic && !(cs->ps.threshold >= -1.0 && cs->ps.threshold <= 1.0)) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid_threshold",
                              "\"match_threshold\" must be a number in [-1, 1]");
    }
    cs->ps.embedder = json_object_get(req, "embedder");
    if (!synthetic && (thr != NULL || cs->ps.embedder != NULL)) {
        return hush__fail_set(
            f, HUSH_EINVAL, "malformed",
            "\"match_threshold\" and \"embedder\" are for synthetic campaigns");
    }
    const json_t *refine = json_object_get(req, "refine");
    if (refine != NULL && !synthetic) {
        return hush__fail_set(f, HUSH_EINVAL, "malformed",
                              "\"refine\" is for synthetic campaigns");
    }
    return refine != NULL ? hush__refine_check(refine, f) : 0;
}

/* Round 1: published, signed, stored with the campaign, installed. */
static int first_round(hush_collector *h, const campaign_spec *cs, const json_t *cands,
                       hush_ldp_params *params, hush__round **out, hush__fail *f)
{
    char *pub_body = NULL, *sig_b64 = NULL;
    char *spec = hush_json_dumps(cs->ps.spec, JSON_COMPACT | JSON_REAL_PRECISION(17));
    hush__round *round = NULL;
    hush_err err = {0};
    int64_t now = hush__wall();
    int rc = spec == NULL ? hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory")
                          : hush__publication_build(h, &cs->ps, cands, &pub_body,
                                                    &sig_b64, params, f);
    if (rc == 0 && hush__round_new(h, cs->id, 1, now, pub_body, strlen(pub_body), sig_b64,
                                   &round, &err) != 0) {
        rc = hush__fail_internal(f, &err);
    }
    if (rc == 0) {
        hush__campaign_row row = {.id = cs->id,
                                  .name = cs->ps.name,
                                  .spec = spec,
                                  .created_at = now,
                                  .round = round->round,
                                  .publication = round->pub_body,
                                  .publication_len = round->pub_len,
                                  .signature = round->signature,
                                  .opened_at = round->opened_at};
        int src = h->store->ops->campaign_save(h->store, &row, &err);
        rc = src == 0 ? 0
                      : hush__fail_from(f, &err,
                                        src == HUSH_EEXIST ? "exists" : "unavailable");
    }
    int irc = rc == 0
                  ? hush__campaign_install(h, cs->id, cs->ps.name, now, spec, round, &err)
                  : 0;
    if (irc == HUSH_EEXIST) {
        /* saved by this request, installed from the store by the poller
         * meanwhile: created all the same; answer with the installed round */
        hush__round_put(round);
        hush__campaign *c = hush__campaign_find(h, cs->id);
        round = c != NULL ? c->cur : NULL;
        rc = round != NULL ? 0 : hush__fail_internal(f, &err);
    } else if (irc != 0) {
        rc = hush__fail_internal(f, &err);
    }
    if (rc != 0) {
        hush__round_put(round);
        round = NULL;
    }
    hush_free(pub_body);
    hush_free(sig_b64);
    hush_free(spec);
    *out = round; /* the campaign's reference: borrowed */
    return rc;
}

int hush__campaign_create(hush_collector *h, const json_t *req, json_t **out,
                          hush__fail *f)
{
    campaign_spec cs = {.ps = {.round = 1, .spec = req}};
    json_t *cands = NULL;
    hush__round *round = NULL;
    hush_ldp_params params;
    *out = NULL;
    int rc = read_identity(h, req, &cs, f);
    if (rc == 0 &&
        (cands = normalize_candidates(json_object_get(req, "candidates"), f)) == NULL) {
        rc = f->err.code;
    }
    if (rc == 0 && (rc = read_budget(req, &cs, f)) == 0 &&
        (rc = read_rules(req, &cs, f)) == 0) {
        rc = first_round(h, &cs, cands, &params, &round, f);
    }
    json_decref(cands);
    if (rc != 0) {
        return rc;
    }
    char url[128];
    snprintf(url, sizeof url, "/v1/campaigns/%s", cs.id);
    *out = json_pack("{s:s, s:I, s:s, s:o, s:I, s:s}", "id", cs.id, "round",
                     (json_int_t)1, "kind", cs.ps.synthetic ? "synthetic" : "poll",
                     "mechanism", hush_wire_params_to_json(&params), "report_bits",
                     (json_int_t)hush_ldp_report_bits(round->mech), "url", url);
    return *out != NULL ? 0
                        : hush__fail_set(f, HUSH_ENOMEM, "internal",
                                         "out of memory answering a created campaign");
}

int hush__publication_build(hush_collector *h, const hush__pub_spec *ps,
                            const json_t *cands, char **pub_body, char **sig_b64,
                            hush_ldp_params *params, hush__fail *f)
{
    json_t *pub = NULL, *embedder = NULL;
    char *matrix = NULL, *body = NULL, *sig = NULL;
    int rc = -1;
    uint32_t domain = (uint32_t)json_array_size(cands) + (ps->synthetic ? 1 : 0);
    if (resolve_mechanism(ps->spec, domain, ps->epsilon, params, f) != 0) {
        goto out;
    }
    if (ps->synthetic &&
        embed_candidates(h->wordvec, ps->embedder, cands, &embedder, &matrix, f) != 0) {
        goto out;
    }
    /* the device view is the matrix and about a kilobyte of fields */
    if (ps->synthetic && strlen(matrix) + 4096 > HUSH_PUBLICATION_DEVICE_MAX) {
        hush__fail_set(
            f, HUSH_EINVAL, "too_large_for_devices",
            "the device view of %zu candidates would be about %zu bytes: devices "
            "download at most %u (fewer candidates, or a smaller embedder dimension)",
            json_array_size(cands), strlen(matrix) + 1024, HUSH_PUBLICATION_DEVICE_MAX);
        goto out;
    }
    /* the publication, in a fixed field order */
    json_t *mech_json = hush_wire_params_to_json(params);
    pub = json_pack(
        "{s:s, s:I, s:s, s:s, s:o, s:{s:I, s:f}, s:I, s:O}", "campaign", ps->id, "round",
        (json_int_t)ps->round, "kind", ps->synthetic ? "synthetic" : "poll", "name",
        ps->name, "mechanism", mech_json, "budget", "reports_per_device_per_day",
        (json_int_t)ps->reports_per_day, "epsilon_per_device_per_day", ps->eps_per_day,
        "min_reports", (json_int_t)ps->min_reports, "candidates", cands);
    if (pub != NULL) {
        /* devices seal batches to this key; it travels signed, with the rest */
        char *seal = hush_b64_encode(h->seal_pk, sizeof h->seal_pk);
        json_object_set_new(pub, "sealing_key",
                            seal != NULL ? json_string(seal) : json_null());
        hush_free(seal);
        if (json_is_true(json_object_get(ps->spec, "require_tokens"))) {
            /* devices attach a token to each report (signed with the rest) */
            json_object_set_new(pub, "require_tokens", json_true());
        }
    }
    if (pub != NULL && ps->synthetic) {
        json_object_set_new(pub, "match_threshold", json_real(ps->threshold));
        json_object_set_new(pub, "no_match_id", json_string(HUSH_NO_MATCH_ID));
        json_object_set(pub, "embedder", embedder);
        json_object_set_new(pub, "matrix", json_string(matrix));
    }
    body =
        pub != NULL ? hush_json_dumps(pub, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    if (body == NULL) {
        hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
        goto out;
    }
    uint8_t raw[crypto_sign_BYTES];
    hush__sign(h, body, strlen(body), raw);
    sig = hush_b64_encode(raw, sizeof raw);
    if (sig == NULL) {
        hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
        goto out;
    }
    /* Check the publication before storing it: a device must accept it. */
    hush_publication *check = NULL;
    hush_err err = {0};
    if (hush_publication_parse(body, strlen(body), &check, &err) != 0) {
        hush__fail_set(f, HUSH_EINVAL, "invalid_campaign", "%s", err.msg);
        goto out;
    }
    hush_publication_free(check);
    *pub_body = body;
    *sig_b64 = sig;
    body = NULL;
    sig = NULL;
    rc = 0;
out:
    json_decref(pub);
    json_decref(embedder);
    hush_free(matrix);
    hush_free(body);
    hush_free(sig);
    return rc;
}

static char *sign_b64(const hush_collector *h, const char *body, size_t len)
{
    uint8_t sig[crypto_sign_BYTES];
    hush__sign((hush_collector *)h, body, len, sig);
    return hush_b64_encode(sig, sizeof sig);
}

int hush__campaigns_resign(hush_collector *h, hush_err *err)
{
    for (size_t i = 0; i < h->n_campaigns; i++) {
        hush__campaign *c = h->campaigns[i];
        hush__round *r = c->cur;
        char *sig = sign_b64(h, r->pub_body, r->pub_len);
        char *dev = r->dev_body != NULL ? sign_b64(h, r->dev_body, r->dev_len) : NULL;
        if (sig == NULL || (r->dev_body != NULL && dev == NULL)) {
            hush_free(sig);
            hush_free(dev);
            return hush_err_set(err, HUSH_ENOMEM, "out of memory re-signing");
        }
        int rc = h->store->ops->round_set_signature(h->store, c->id, r->round, sig, err);
        if (rc != 0) {
            hush_free(sig);
            hush_free(dev);
            return rc;
        }
        pthread_mutex_lock(&r->lock);
        char *old = r->signature, *old_dev = r->dev_signature;
        r->signature = sig;
        if (dev != NULL) {
            r->dev_signature = dev;
        }
        pthread_mutex_unlock(&r->lock);
        hush_free(old);
        if (dev != NULL) {
            hush_free(old_dev);
        }
    }
    return 0;
}
