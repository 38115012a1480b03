/*
 * peers.c - the other nodes' shares of a round, when several hushd nodes
 * share one PostgreSQL store.
 *
 * Each node counts the batches it committed (r->agg).  Aggregates are sums,
 * so a round's whole aggregate is this node's plus every other node's.
 * For live estimates a node adds the others' last checkpoints (r->peers,
 * read every poll interval): they lag another node's acknowledgements by at
 * most that node's checkpoint interval plus this node's poll interval, and
 * the estimates document names each node's checkpoint time.  A round close
 * and an archive do not lag: they gather every other node's checkpoint and
 * its batches after it inside their transaction (hush__gathered), with the
 * campaign locked against every node's commits.
 */
#include <stdio.h>

#include "domain.h"

const hush_ldp_agg *hush__round_total(const hush__round *r, hush_ldp_agg **tmp)
{
    *tmp = NULL;
    if (r->peers == NULL) {
        return r->agg;
    }
    if (hush_ldp_agg_new(r->mech, tmp, NULL) != 0 ||
        hush_ldp_agg_merge(*tmp, r->agg, NULL) != 0 ||
        hush_ldp_agg_merge(*tmp, r->peers, NULL) != 0) {
        hush_ldp_agg_free(*tmp);
        *tmp = NULL;
        return NULL;
    }
    return *tmp;
}

uint64_t hush__round_count(hush__round *r)
{
    pthread_mutex_lock(&r->lock);
    uint64_t n = hush_ldp_agg_count(r->agg) +
                 (r->peers != NULL ? hush_ldp_agg_count(r->peers) : 0);
    pthread_mutex_unlock(&r->lock);
    return n;
}

/* ---- live: the other nodes' checkpoints ---- */

struct peers_read {
    const hush__round *r;
    hush_ldp_agg *sum;
    json_t *nodes;
};

static int peer_state(void *ctx, const char *node, const void *state, size_t len,
                      int64_t saved_at, hush_err *err)
{
    struct peers_read *pr = ctx;
    hush_ldp_agg *agg = NULL;
    hush_err local = {0};
    if (hush_ldp_agg_deserialize(state, len, pr->r->mech, &agg, &local) != 0) {
        return hush_err_set(err, local.code == HUSH_ENOMEM ? HUSH_ENOMEM : HUSH_ECORRUPT,
                            "the checkpoint of node %s does not fit round %u: %s", node,
                            pr->r->round, local.msg);
    }
    int rc = pr->sum == NULL ? hush_ldp_agg_new(pr->r->mech, &pr->sum, err) : 0;
    if (rc == 0) {
        rc = hush_ldp_agg_merge(pr->sum, agg, err);
    }
    hush_ldp_agg_free(agg);
    json_t *o = json_pack("{s:s, s:I}", "node", node, "as_of", (json_int_t)saved_at);
    if (rc == 0 && (o == NULL || json_array_append_new(pr->nodes, o) != 0)) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    return rc;
}

int hush__peers_refresh(hush_collector *h, const char *campaign, hush__round *r,
                        hush_err *err)
{
    struct peers_read pr = {r, NULL, json_array()};
    int rc = pr.nodes != NULL ? 0 : hush_err_set(err, HUSH_ENOMEM, "out of memory");
    if (rc == 0) {
        rc =
            h->store->ops->peers_each(h->store, campaign, r->round, peer_state, &pr, err);
    }
    if (rc == 0) {
        pthread_mutex_lock(&r->lock);
        bool same = (r->peers == NULL) == (pr.sum == NULL) &&
                    (r->peers == NULL || hush_ldp_agg_equal(r->peers, pr.sum)) &&
                    json_equal(r->peer_nodes != NULL ? r->peer_nodes : json_null(),
                               pr.sum != NULL ? pr.nodes : json_null());
        if (!same) {
            hush_ldp_agg_free(r->peers);
            json_decref(r->peer_nodes);
            r->peers = pr.sum;
            r->peer_nodes = pr.sum != NULL ? json_incref(pr.nodes) : NULL;
            pr.sum = NULL;
            r->version++;
        }
        pthread_mutex_unlock(&r->lock);
    }
    hush_ldp_agg_free(pr.sum);
    json_decref(pr.nodes);
    return rc;
}

json_t *hush__peers_doc(const hush_collector *h, const hush__round *r)
{
    if (!h->clustered) {
        return NULL;
    }
    json_t *peers = r->peer_nodes != NULL ? json_deep_copy(r->peer_nodes) : json_array();
    int64_t complete = -1; /* -1: every share live (no other node) */
    for (size_t i = 0; peers != NULL && i < json_array_size(peers); i++) {
        int64_t t =
            json_integer_value(json_object_get(json_array_get(peers, i), "as_of"));
        complete = complete < 0 || t < complete ? t : complete;
    }
    return json_pack("{s:s, s:o, s:o}", "node", h->cfg.node_id, "peers",
                     peers != NULL ? peers : json_array(), "complete_as_of",
                     complete >= 0 ? json_integer((json_int_t)complete) : json_null());
}

/* ---- exact: a close's or an archive's gather ---- */

static int gathered_begin(void *ctx, hush_err *err)
{
    hush__gathered *ga = ctx;
    hush_ldp_agg_free(ga->sum); /* a retried transaction starts again */
    ga->sum = NULL;
    pthread_mutex_lock(&ga->r->lock);
    int rc = hush_ldp_agg_new(ga->r->mech, &ga->sum, err);
    if (rc == 0) {
        rc = hush_ldp_agg_merge(ga->sum, ga->r->agg, err);
    }
    pthread_mutex_unlock(&ga->r->lock);
    return rc;
}

static int gathered_state(void *ctx, const char *node, const void *state, size_t len,
                          hush_err *err)
{
    hush__gathered *ga = ctx;
    hush_ldp_agg *agg = NULL;
    hush_err local = {0};
    if (hush_ldp_agg_deserialize(state, len, ga->r->mech, &agg, &local) != 0) {
        return hush_err_set(err, local.code == HUSH_ENOMEM ? HUSH_ENOMEM : HUSH_ECORRUPT,
                            "the checkpoint of node %s does not fit round %u: %s", node,
                            ga->r->round, local.msg);
    }
    int rc = hush_ldp_agg_merge(ga->sum, agg, err);
    hush_ldp_agg_free(agg);
    return rc;
}

static int gathered_batch(void *ctx, const void *reports, size_t len, hush_err *err)
{
    hush__gathered *ga = ctx;
    hush_err local = {0};
    if (hush_ldp_agg_add(ga->sum, reports, len, NULL, &local) != 0) {
        return hush_err_set(err, local.code == HUSH_ENOMEM ? HUSH_ENOMEM : HUSH_ECORRUPT,
                            "another node's batch does not fit round %u: %s",
                            ga->r->round, local.msg);
    }
    return 0;
}

static int gathered_finish(void *ctx, hush_err *err)
{
    hush__gathered *ga = ctx;
    return ga->done(ga->ctx, ga->sum, err);
}

void hush__gathered_init(hush__gathered *ga, hush__round *r,
                         int (*done)(void *ctx, const hush_ldp_agg *sum, hush_err *err),
                         void *ctx)
{
    *ga = (hush__gathered){.g = {.ctx = ga,
                                 .begin = gathered_begin,
                                 .state = gathered_state,
                                 .batch = gathered_batch,
                                 .finish = gathered_finish},
                           .r = r,
                           .done = done,
                           .ctx = ctx};
}

void hush__gathered_fini(hush__gathered *ga)
{
    hush_ldp_agg_free(ga->sum);
    ga->sum = NULL;
}
