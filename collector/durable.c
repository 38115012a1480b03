/*
 * durable.c - the domain's side of the store: bringing campaigns, model
 * tasks and aggregates back at start, checkpoints, compaction, readiness,
 * and turning queued report batches into batch rows.
 *
 * The rule that makes a restart exact: an open round's aggregate equals its
 * last checkpoint plus every stored batch of that round with a larger row
 * id.  It holds because only the writer thread adds batches, in row-id
 * order, after their commit, and a checkpoint records the last row id it
 * includes (h->last_rowid, read under the campaigns lock, which the writer
 * holds from its commit to its last add).
 */
#include <stdio.h>

#include "domain.h"

/* ---- start ---- */

int hush__campaign_from_row(hush_collector *h, const hush__campaign_row *row,
                            hush_err *err)
{
    hush__round *r = NULL;
    int rc = hush__round_new(h, row->id, row->round, row->opened_at, row->publication,
                             row->publication_len, row->signature, &r, err);
    if (rc == 0 && (rc = hush__campaign_install(h, row->id, row->name, row->created_at,
                                                row->spec, r, err)) != 0) {
        hush__round_put(r);
    }
    hush__campaign *c = rc == 0 ? hush__campaign_find(h, row->id) : NULL;
    if (c != NULL) {
        __atomic_store_n(&c->ended_at, row->ended_at, __ATOMIC_RELEASE);
        __atomic_store_n(&c->archived_at, row->archived_at, __ATOMIC_RELEASE);
    }
    return rc;
}

static int campaign_loaded(void *ctx, const hush__campaign_row *row, hush_err *err)
{
    return hush__campaign_from_row(ctx, row, err);
}

/* Per campaign: its checkpoint installed as the open round's aggregate, and
 * the row id it holds (0: no checkpoint, replay every batch). */
static int load_checkpoint(hush_collector *h, hush__campaign *c, int64_t *from,
                           hush_err *err)
{
    hush__round *r = c->cur;
    void *state = NULL;
    size_t len = 0;
    int64_t last = 0;
    *from = 0;
    int rc = h->store->ops->checkpoint_load(h->store, c->id, r->round, &state, &len,
                                            &last, err);
    if (rc == HUSH_ENOTFOUND) {
        return 0;
    }
    hush_ldp_agg *agg = NULL;
    hush_err local = {0};
    if (rc == 0 &&
        (rc = hush_ldp_agg_deserialize(state, len, r->mech, &agg, &local)) != 0) {
        rc = hush_err_set(err, rc, "store: checkpoint of campaign %s round %u: %s", c->id,
                          r->round, local.msg);
    }
    if (rc == 0) {
        hush_ldp_agg_free(r->agg);
        r->agg = agg;
        *from = last;
    }
    hush_free(state);
    return rc;
}

struct replay {
    hush_collector *h;
    const int64_t *from; /* per campaign */
};

static int batch_replayed(void *ctx, int64_t rowid, const char *campaign, uint32_t round,
                          const void *reports, size_t len, hush_err *err)
{
    const struct replay *rp = ctx;
    hush_collector *h = rp->h;
    for (size_t i = 0; i < h->n_campaigns; i++) {
        hush__campaign *c = h->campaigns[i];
        if (strcmp(c->id, campaign) != 0 || c->cur->round != round ||
            rowid <= rp->from[i]) {
            continue;
        }
        hush_err local = {0};
        if (hush_ldp_agg_add(c->cur->agg, reports, len, NULL, &local) != 0) {
            return hush_err_set(err, HUSH_ECORRUPT,
                                "store: batch row %lld does not fit campaign %s: %s",
                                (long long)rowid, campaign, local.msg);
        }
        c->cur->version++;
        break;
    }
    return 0;
}

/* Every open round's aggregate: its checkpoint plus the batches after it. */
static int rebuild(hush_collector *h, hush_err *err)
{
    double t0 = hush__now();
    int64_t *from = hush_calloc(h->n_campaigns ? h->n_campaigns : 1, sizeof *from);
    if (from == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory rebuilding aggregates");
    }
    int64_t min_from = INT64_MAX, last = 0;
    int rc = 0;
    for (size_t i = 0; i < h->n_campaigns && rc == 0; i++) {
        rc = load_checkpoint(h, h->campaigns[i], &from[i], err);
        min_from = from[i] < min_from ? from[i] : min_from;
    }
    if (rc == 0) {
        struct replay rp = {h, from};
        rc = h->store->ops->batches_each(h->store,
                                         h->n_campaigns > 0 ? min_from : INT64_MAX,
                                         batch_replayed, &rp, &last, err);
    }
    hush_free(from);
    h->last_rowid = last;
    h->metrics.rebuild_seconds = hush__now() - t0;
    return rc;
}

int hush__state_load(hush_collector *h, hush_err *err)
{
    int rc = h->store->ops->campaigns_each(h->store, campaign_loaded, h, err);
    if (rc == 0) {
        rc = hush__tasks_load(h, err);
    }
    return rc != 0 ? rc : rebuild(h, err);
}

/* ---- while running ---- */

int hush__checkpoint(hush_collector *h, hush_err *err)
{
    /* lock order everywhere: campaigns, then the store */
    pthread_rwlock_rdlock(&h->campaigns_lock);
    size_t n = h->n_campaigns;
    hush__state_row *rows = hush_calloc(n ? n : 1, sizeof *rows);
    int rc = rows != NULL ? 0 : hush_err_set(err, HUSH_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        hush__round *r = h->campaigns[i]->cur;
        uint8_t *state = NULL;
        size_t len = 0;
        pthread_mutex_lock(&r->lock);
        rc = hush_ldp_agg_serialize(r->agg, &state, &len, err);
        pthread_mutex_unlock(&r->lock);
        rows[i] = (hush__state_row){h->campaigns[i]->id, r->round, state, len};
    }
    if (rc == 0) {
        rc = h->store->ops->checkpoints_save(h->store, rows, n, h->last_rowid, err);
    }
    for (size_t i = 0; rows != NULL && i < n; i++) {
        hush_free((void *)rows[i].state);
    }
    hush_free(rows);
    pthread_rwlock_unlock(&h->campaigns_lock);
    return rc;
}

int hush__compact(hush_collector *h, hush__compaction *out, hush_err *err)
{
    /* the campaigns' open rounds cannot change while the read lock is held
     * (a close takes the write lock), and closed rounds never get a batch */
    pthread_rwlock_rdlock(&h->campaigns_lock);
    int rc = h->store->ops->compact(h->store, out, err);
    pthread_rwlock_unlock(&h->campaigns_lock);
    return rc;
}

const char *hush__store_kind(hush_collector *h, uint64_t *retries, uint64_t *reconnects)
{
    *retries = __atomic_load_n(&h->store->retries, __ATOMIC_RELAXED);
    *reconnects = __atomic_load_n(&h->store->reconnects, __ATOMIC_RELAXED);
    return h->store->ops->kind;
}

int hush__ready(hush_collector *h, hush_err *err)
{
    return h->store->ops->probe(h->store, err);
}

int hush__commit_items(hush_collector *h, hush__item *items, size_t n,
                       int64_t *last_rowid, hush_err *err)
{
    hush__batch_row *rows = hush_calloc(n ? n : 1, sizeof *rows);
    if (rows == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory committing batches");
    }
    size_t i = 0;
    for (hush__item *it = items; it != NULL && i < n; it = it->next, i++) {
        rows[i] = (hush__batch_row){.batch_id = it->batch_id,
                                    .campaign = it->campaign->id,
                                    .round = it->round->round,
                                    .n = it->n_reports,
                                    .reports = it->reports,
                                    .bytes = it->n_reports *
                                             hush_ldp_report_size(it->round->mech),
                                    .skip = it->closed};
    }
    hush_err local = {0};
    int rc = h->store->ops->batches_commit(h->store, rows, i, last_rowid, &local);
    hush__store *s = h->store;
    if (rc != 0) {
        /* said on stderr by the writer; /readyz answers 503 until a commit
         * works again (s->error is read by the store's probe) */
        snprintf(s->error, sizeof s->error, "%s", local.msg);
        hush_err_set(err, rc, "%s", local.msg);
    }
    __atomic_store_n(&s->ok, rc == 0, __ATOMIC_RELEASE);
    i = 0;
    for (hush__item *it = items; rc == 0 && it != NULL && i < n; it = it->next, i++) {
        it->duplicate = rows[i].duplicate;
        it->closed = it->closed || rows[i].closed; /* another node closed or ended it */
    }
    hush_free(rows);
    return rc;
}
