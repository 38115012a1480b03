/*
 * cluster.c - one node among several hushd nodes on one PostgreSQL store.
 *
 * What another node changes reaches this one through the store, read by
 * the poller thread every --poll-interval seconds (hush__cluster_sync):
 *  - a campaign created elsewhere is installed here;
 *  - a round closed elsewhere: this node switches to the next round (until
 *    then its batches for the old round are refused by the store with 409,
 *    so nothing is lost or counted late; a device that fetched the new
 *    round from another node and sends it here meanwhile gets 409 "not open
 *    yet" and retries);
 *  - a campaign ended or archived elsewhere is marked so here; an archive's
 *    final state holds this node's share, so this node's aggregate of it is
 *    emptied;
 *  - every open round's peers (the other nodes' checkpoints) are re-read.
 * Nothing here decides what counts: the store's locks do (store_pg.c).
 */
#include <stdio.h>
#include <time.h>

#include "domain.h"

/* A campaign another node created: installed with an empty aggregate (its
 * reports are the other nodes' and reach this one as peers). */
static int install_new(hush_collector *h, const hush__campaign_row *row, hush_err *err)
{
    int rc = hush__campaign_from_row(h, row, err);
    if (rc == HUSH_EEXIST) { /* created by this node meanwhile */
        hush_err_clear(err);
        return 0;
    }
    if (rc == 0) {
        hush__log(h, "info", "campaign %s (created by another node) installed", row->id);
    }
    return rc;
}

/* A round another node closed: the next one installed as the open round. */
static int switch_round(hush_collector *h, hush__campaign *c,
                        const hush__campaign_row *row, hush_err *err)
{
    hush__round *next = NULL;
    int rc = hush__round_new(h, row->id, row->round, row->opened_at, row->publication,
                             row->publication_len, row->signature, &next, err);
    if (rc != 0) {
        return rc;
    }
    pthread_rwlock_wrlock(&h->campaigns_lock);
    uint32_t was = c->cur->round;
    bool newer = row->round > was;
    hush__round *old = NULL;
    if (newer) {
        old = c->cur;
        c->cur = next;
        next = NULL;
        hush__campaigns_list_rebuild(h);
    }
    pthread_rwlock_unlock(&h->campaigns_lock);
    hush__round_put(old);
    hush__round_put(next);
    if (newer) {
        hush__log(h, "info", "%s round %u was closed by another node; round %u is open",
                  c->id, was, row->round);
    }
    return 0;
}

/* An archive made elsewhere: its final state holds this node's share. */
static void archived_elsewhere(hush_collector *h, hush__campaign *c, int64_t when)
{
    pthread_rwlock_wrlock(&h->campaigns_lock);
    hush__round *r = c->cur;
    pthread_mutex_lock(&r->lock);
    hush_ldp_agg_reset(r->agg);
    r->version++;
    pthread_mutex_unlock(&r->lock);
    __atomic_store_n(&c->archived_at, when, __ATOMIC_RELEASE);
    pthread_rwlock_unlock(&h->campaigns_lock);
    hush__log(h, "info", "campaign %s was archived by another node", c->id);
}

static int campaign_seen(hush_collector *h, const hush__campaign_row *row, hush_err *err)
{
    hush__campaign *c = hush__campaign_find(h, row->id);
    if (c == NULL) {
        return install_new(h, row, err);
    }
    int rc = 0;
    pthread_rwlock_rdlock(&h->campaigns_lock);
    uint32_t open = c->cur->round;
    pthread_rwlock_unlock(&h->campaigns_lock);
    if (row->round > open) {
        rc = switch_round(h, c, row, err);
    }
    if (row->ended_at != 0 && __atomic_load_n(&c->ended_at, __ATOMIC_ACQUIRE) == 0) {
        __atomic_store_n(&c->ended_at, row->ended_at, __ATOMIC_RELEASE);
        pthread_rwlock_wrlock(&h->campaigns_lock);
        hush__campaigns_list_rebuild(h);
        pthread_rwlock_unlock(&h->campaigns_lock);
    }
    if (rc == 0 && row->archived_at != 0 &&
        __atomic_load_n(&c->archived_at, __ATOMIC_ACQUIRE) == 0) {
        archived_elsewhere(h, c, row->archived_at);
    }
    return rc;
}

/* The campaign rows as read, copied: they are acted on after the store's
 * walk, since the walk holds the store's lock and acting takes the
 * campaigns lock, which is always taken before the store's. */
struct rows {
    hush__campaign_row *v;
    size_t n, cap;
};

static char *dup_n(const char *s, size_t n)
{
    char *d = hush_malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static void row_free(hush__campaign_row *row)
{
    hush_free((void *)row->id);
    hush_free((void *)row->name);
    hush_free((void *)row->spec);
    hush_free((void *)row->publication);
    hush_free((void *)row->signature);
}

static int row_copy(void *ctx, const hush__campaign_row *row, hush_err *err)
{
    struct rows *rs = ctx;
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 16;
        hush__campaign_row *g = hush_realloc(rs->v, cap * sizeof *g);
        if (g == NULL) {
            return hush_err_set(err, HUSH_ENOMEM, "out of memory");
        }
        rs->v = g;
        rs->cap = cap;
    }
    hush__campaign_row *c = &rs->v[rs->n];
    *c = *row;
    c->id = hush_strdup(row->id);
    c->name = hush_strdup(row->name);
    c->spec = hush_strdup(row->spec);
    c->publication = dup_n(row->publication, row->publication_len);
    c->signature = hush_strdup(row->signature);
    rs->n++;
    if (c->id == NULL || c->name == NULL || c->spec == NULL || c->publication == NULL ||
        c->signature == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    return 0;
}

int hush__cluster_sync(hush_collector *h, hush_err *err)
{
    struct rows rs = {0};
    int rc = h->store->ops->campaigns_each(h->store, row_copy, &rs, err);
    for (size_t i = 0; i < rs.n; i++) {
        if (rc == 0) {
            rc = campaign_seen(h, &rs.v[i], err);
        }
        row_free(&rs.v[i]);
    }
    hush_free(rs.v);
    pthread_rwlock_rdlock(&h->campaigns_lock);
    size_t n = h->n_campaigns;
    pthread_rwlock_unlock(&h->campaigns_lock);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        pthread_rwlock_rdlock(&h->campaigns_lock);
        hush__campaign *c = h->campaigns[i]; /* campaigns are never removed */
        pthread_rwlock_unlock(&h->campaigns_lock);
        hush__round *r = hush__round_get(h, c);
        rc = hush__peers_refresh(h, c->id, r, err);
        hush__round_put(r);
    }
    return rc;
}

/* Every poll interval: the other nodes' changes (said once when reading
 * them fails, and once when it works again). */
static void poller_tick(void *ctx)
{
    hush_collector *h = ctx;
    hush_err err = {0};
    int rc = hush__cluster_sync(h, &err);
    if (rc != 0 && !h->poller_failing) {
        hush__log(h, "error", "reading the other nodes' changes failed: %s", err.msg);
    } else if (rc == 0 && h->poller_failing) {
        hush__log(h, "info", "reading the other nodes' changes works again");
    }
    h->poller_failing = rc != 0;
}

int hush__poller_start(hush_collector *h, hush_err *err)
{
    return hush__ticker_start(&h->poller, h->cfg.poll_interval_s, poller_tick, h,
                              "poller", err);
}

void hush__poller_stop(hush_collector *h)
{
    hush__ticker_stop(&h->poller);
}
