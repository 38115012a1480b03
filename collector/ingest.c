/*
 * ingest.c - the writer thread: group commit of report batches.
 *
 * HTTP threads validate a batch, suspend its connection and queue it here.
 * The writer takes everything queued (up to max_batches_per_commit), writes
 * it in one SQLite transaction (one fsync for all of them), adds the new
 * batches to their aggregates, and only then resumes the connections, whose
 * handlers answer.  So an acknowledged batch is on disk and counted, a
 * repeated batch_id is acknowledged and not counted again, and a crash can
 * lose only batches nobody was told about.  The writer also takes the
 * periodic aggregate checkpoints, between commits, so a checkpoint always
 * matches the last row id it records.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <unistd.h>

#include "domain.h"
#include "hush_json.h"

void hush__item_free(hush__item *item)
{
    if (item != NULL) {
        hush__round_put(item->round);
        hush_ldp_agg_free(item->delta);
        hush_free(item->reports);
        hush_free(item);
    }
}

void hush__enqueue(hush_collector *h, hush__item *item)
{
    item->next = NULL;
    pthread_mutex_lock(&h->queue_lock);
    if (h->queue_tail != NULL) {
        h->queue_tail->next = item;
    } else {
        h->queue_head = item;
    }
    h->queue_tail = item;
    pthread_cond_signal(&h->queue_cond);
    pthread_mutex_unlock(&h->queue_lock);
}

/* Takes up to `max` items off the queue, waiting until there is one, the
 * server stops, or `deadline` (CLOCK_MONOTONIC seconds) passes. */
static hush__item *take(hush_collector *h, unsigned max, double deadline, bool *stop)
{
    pthread_mutex_lock(&h->queue_lock);
    while (h->queue_head == NULL && !h->stopping) {
        double left = deadline - hush__now();
        if (left <= 0) {
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        double t = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 + left;
        ts.tv_sec = (time_t)t;
        ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
        pthread_cond_timedwait(&h->queue_cond, &h->queue_lock, &ts);
    }
    hush__item *first = h->queue_head, *last = NULL;
    unsigned n = 0;
    for (hush__item *it = first; it != NULL && n < max; it = it->next) {
        last = it;
        n++;
    }
    if (last != NULL) {
        h->queue_head = last->next;
        if (h->queue_head == NULL) {
            h->queue_tail = NULL;
        }
        last->next = NULL;
    }
    *stop = h->stopping && h->queue_head == NULL && first == NULL;
    pthread_mutex_unlock(&h->queue_lock);
    return first;
}

static void checkpoint(hush_collector *h)
{
    hush_err err = {0};
    if (hush__checkpoint(h, &err) != 0) {
        hush__log(h, "error", "checkpoint failed (retried in %u s): %s",
                  h->cfg.checkpoint_interval_s, err.msg);
    }
}

/* Counts one item of a group whose commit returned rc: 409 if its round
 * closed while it waited, 503 if the commit failed, else 200 and (not a
 * duplicate) added into its round's aggregate. */
static void count_item(hush_collector *h, hush__item *it, int rc)
{
    enum hush__reject why = it->closed ? REJECT_ROUND
                            : rc != 0  ? REJECT_UNAVAILABLE
                                       : REJECT_DUPLICATE;
    it->status = it->closed ? 409 : rc != 0 ? 503 : 200;
    if (it->closed || rc != 0 || it->duplicate) {
        hush__metrics_reject(&h->metrics, why, it->n_reports);
        hush__campaign_reject(it->campaign, why, it->n_reports);
        return;
    }
    /* validated before it was queued: the add cannot fail; a large batch
     * was counted already and is merged */
    size_t bytes = it->n_reports * hush_ldp_report_size(it->round->mech);
    pthread_mutex_lock(&it->round->lock);
    int arc = it->delta != NULL
                  ? hush_ldp_agg_merge(it->round->agg, it->delta, NULL)
                  : hush_ldp_agg_add(it->round->agg, it->reports, bytes, NULL, NULL);
    it->round->version++;
    pthread_mutex_unlock(&it->round->lock);
    if (arc != 0) {
        it->status = 500;
        return;
    }
    __atomic_add_fetch(&h->metrics.reports_accepted, it->n_reports, __ATOMIC_RELAXED);
    __atomic_add_fetch(&h->metrics.batches_accepted, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&it->campaign->reports_accepted, it->n_reports, __ATOMIC_RELAXED);
    __atomic_add_fetch(&it->campaign->batches_accepted, 1, __ATOMIC_RELAXED);
}

/* One group commit: stored in one transaction, counted, answered. */
static void commit_group(hush_collector *h, hush__item *items)
{
    size_t n = 0;
    for (hush__item *it = items; it != NULL; it = it->next) {
        n++;
    }
    double t0 = hush__now();
    int64_t last = h->last_rowid;
    /* A round closes under the write lock: holding the read lock from this
     * check to the last add means a batch is either counted in the round it
     * names before it closes, or refused with 409. */
    pthread_rwlock_rdlock(&h->campaigns_lock);
    for (hush__item *it = items; it != NULL; it = it->next) {
        it->closed = it->round != it->campaign->cur;
    }
    bool was_ok = __atomic_load_n(&h->store->ok, __ATOMIC_ACQUIRE);
    hush_err cerr = {0};
    int rc = hush__commit_items(h, items, n, &last, &cerr);
    hush__metrics_commit(&h->metrics, hush__now() - t0, n);
    if (rc != 0) {
        hush__log(h, "error",
                  "store commit failed, %zu batches answered 503 (clients retry with the "
                  "same batch ids): %s",
                  n, cerr.msg);
    } else if (!was_ok) {
        hush__log(h, "info", "store commits work again");
    }
    for (hush__item *it = items; it != NULL; it = it->next) {
        count_item(h, it, rc);
    }
    pthread_rwlock_unlock(&h->campaigns_lock);
    if (rc == 0) {
        h->last_rowid = last;
    }
    /* answer: the handler runs again once resumed */
    for (hush__item *it = items, *next; it != NULL; it = next) {
        next = it->next;
        __atomic_store_n(&it->done, true, __ATOMIC_RELEASE);
        it->answer(it);
    }
}

static void *writer_main(void *arg)
{
    hush_collector *h = arg;
    double next_checkpoint = hush__now() + h->cfg.checkpoint_interval_s;
    /* one checkpoint after the start even without new batches: the rebuild
     * may have replayed batches its stored checkpoint lacked, which other
     * nodes read only from a checkpoint */
    int64_t checkpointed = -1;
    for (;;) {
        bool stop = false;
        hush__item *items =
            take(h, h->cfg.max_batches_per_commit, next_checkpoint, &stop);
        if (items != NULL) {
            commit_group(h, items);
        }
        if (hush__now() >= next_checkpoint || stop) {
            if (h->last_rowid != checkpointed) {
                checkpoint(h);
                checkpointed = h->last_rowid;
            }
            next_checkpoint = hush__now() + h->cfg.checkpoint_interval_s;
        }
        if (stop) {
            break;
        }
    }
    return NULL;
}

int hush__writer_start(hush_collector *h, hush_err *err)
{
    int rc = pthread_create(&h->writer, NULL, writer_main, h);
    if (rc != 0) {
        return hush_err_set(err, HUSH_EIO, "cannot start the writer thread: %s",
                            strerror(rc));
    }
    h->writer_started = true;
    return 0;
}

void hush__writer_stop(hush_collector *h)
{
    if (!h->writer_started) {
        return;
    }
    pthread_mutex_lock(&h->queue_lock);
    h->stopping = true;
    pthread_cond_broadcast(&h->queue_cond);
    pthread_mutex_unlock(&h->queue_lock);
    pthread_join(h->writer, NULL);
    h->writer_started = false;
}

/* ---- counter threads ---- */

void hush__count_enqueue(hush_collector *h, hush__item *item)
{
    item->next = NULL;
    pthread_mutex_lock(&h->count_lock);
    if (h->count_tail != NULL) {
        h->count_tail->next = item;
    } else {
        h->count_head = item;
    }
    h->count_tail = item;
    pthread_cond_signal(&h->count_cond);
    pthread_mutex_unlock(&h->count_lock);
}

static void *counter_main(void *arg)
{
    hush_collector *h = arg;
    pthread_mutex_lock(&h->count_lock);
    for (;;) {
        while (h->count_head == NULL && !h->count_stop) {
            pthread_cond_wait(&h->count_cond, &h->count_lock);
        }
        hush__item *it = h->count_head;
        if (it == NULL) {
            break; /* stopping, and nothing left */
        }
        h->count_head = it->next;
        if (h->count_head == NULL) {
            h->count_tail = NULL;
        }
        it->next = NULL;
        pthread_mutex_unlock(&h->count_lock);
        size_t bytes = it->n_reports * hush_ldp_report_size(it->round->mech);
        if (hush_ldp_agg_new(it->round->mech, &it->delta, NULL) != 0 ||
            hush_ldp_agg_add(it->delta, it->reports, bytes, NULL, NULL) != 0) {
            /* validated when it came: only memory can fail */
            hush__log(h, "error", "out of memory counting a batch of %zu reports",
                      it->n_reports);
            it->status = 500;
            __atomic_store_n(&it->done, true, __ATOMIC_RELEASE);
            it->answer(it);
        } else {
            hush__enqueue(h, it);
        }
        pthread_mutex_lock(&h->count_lock);
    }
    pthread_mutex_unlock(&h->count_lock);
    return NULL;
}

int hush__counters_start(hush_collector *h, hush_err *err)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned n = cores > 0 ? (unsigned)cores : 1;
    h->counters = hush_calloc(n, sizeof *h->counters);
    if (h->counters == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory starting counters");
    }
    h->count_stop = false;
    for (unsigned i = 0; i < n; i++) {
        if (pthread_create(&h->counters[i], NULL, counter_main, h) != 0) {
            hush__counters_stop(h);
            return hush_err_set(err, HUSH_EIO, "cannot start a counter thread");
        }
        h->n_counters++;
    }
    return 0;
}

void hush__counters_stop(hush_collector *h)
{
    pthread_mutex_lock(&h->count_lock);
    h->count_stop = true;
    pthread_cond_broadcast(&h->count_cond);
    pthread_mutex_unlock(&h->count_lock);
    for (unsigned i = 0; i < h->n_counters; i++) {
        pthread_join(h->counters[i], NULL);
    }
    h->n_counters = 0;
    hush_free(h->counters);
    h->counters = NULL;
}

/* ---- accepting a batch ---- */

/* A batch whose counting costs at least this many (report, value) steps is
 * counted by a counter thread (about a millisecond of work and up). */
#define DELTA_MIN_WORK (UINT64_C(1) << 22)

/* Counts a refusal under `why` (and the campaign's, when known) and
 * records it. */
static int refuse(hush_collector *h, hush__campaign *c, enum hush__reject why, uint64_t n,
                  hush__fail *f, int code, const char *reason, const char *msg)
{
    hush__metrics_reject(&h->metrics, why, n);
    if (c != NULL) {
        hush__campaign_reject(c, why, n);
    }
    return hush__fail_set(f, code, reason, "%s", msg);
}

/* A sealed batch {"sealed": base64} opened with the collector's key: the
 * batch inside (new), or the document itself (a new reference). */
static int open_sealed(hush_collector *h, const json_t *doc, json_t **out, hush__fail *f)
{
    const json_t *sealed = json_object_get(doc, "sealed");
    if (sealed == NULL) {
        *out = json_incref((json_t *)doc);
        return 0;
    }
    uint8_t *plain = NULL;
    size_t plen = 0;
    hush_err err = {0};
    if (!json_is_string(sealed) || json_object_size(doc) != 1 ||
        hush_unseal(json_string_value(sealed), json_string_length(sealed), h->seal_pk,
                    h->seal_sk, &plain, &plen, &err) != 0) {
        return refuse(h, NULL, REJECT_SEALED, 0, f,
                      err.code == HUSH_ENOMEM ? HUSH_ENOMEM : HUSH_EINVAL, "sealed",
                      err.msg[0]
                          ? err.msg
                          : "a sealed batch is {\"sealed\": base64} and nothing else");
    }
    int jcode = 0;
    *out =
        hush__json_loadb((const char *)plain, plen, JSON_REJECT_DUPLICATES, NULL, &jcode);
    hush_free(plain);
    if (*out == NULL) {
        return jcode == HUSH_ENOMEM
                   ? hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory")
                   : refuse(h, NULL, REJECT_MALFORMED, 0, f, HUSH_EINVAL, "malformed",
                            "the sealed batch does not hold JSON");
    }
    return 0;
}

/* The batch's campaign, open and at the round the batch names: a new
 * reference to that round. */
static int open_round(hush_collector *h, const hush_batch_header *hdr, uint64_t n,
                      hush__campaign **cp, hush__round **out, hush__fail *f)
{
    char msg[192];
    hush__campaign *c = hush__campaign_find(h, hdr->campaign);
    if (c == NULL) {
        snprintf(msg, sizeof msg, "no campaign \"%s\"", hdr->campaign);
        return refuse(h, NULL, REJECT_UNKNOWN_CAMPAIGN, n, f, HUSH_ENOTFOUND,
                      "unknown_campaign", msg);
    }
    if (hush__campaign_ended(c, hush__wall())) {
        return refuse(h, c, REJECT_ENDED, n, f, HUSH_ESTATE, "campaign_ended",
                      "the campaign has ended: it takes no more reports");
    }
    hush__round *round = hush__round_get(h, c);
    if (hdr->round != round->round) {
        snprintf(msg, sizeof msg, "round %u of %s is %s; the current round is %u",
                 hdr->round, c->id, hdr->round < round->round ? "closed" : "not open yet",
                 round->round);
        hush__round_put(round);
        return refuse(h, c, REJECT_ROUND, n, f, HUSH_ESTATE, "round_closed", msg);
    }
    *cp = c;
    *out = round;
    return 0;
}

int hush__batch_accept(hush_collector *h, const json_t *posted, hush__item **out,
                       hush__fail *f)
{
    json_t *doc = NULL;
    int rc = open_sealed(h, posted, &doc, f);
    if (rc != 0) {
        return rc;
    }
    hush_batch_header hdr;
    hush_err err = {0};
    hush__campaign *c = NULL;
    hush__round *round = NULL;
    hush__item *item = NULL;
    if (hush_batch_read_header(doc, &hdr, &err) != 0) {
        rc = refuse(h, NULL, REJECT_MALFORMED, 0, f, HUSH_EINVAL, "malformed", err.msg);
    }
    uint64_t n = rc == 0 ? json_array_size(hdr.reports) : 0;
    if (rc == 0) {
        rc = open_round(h, &hdr, n, &c, &round, f);
    }
    if (rc == 0 && (item = hush_calloc(1, sizeof *item)) == NULL) {
        hush__round_put(round);
        rc = hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
    }
    if (rc == 0) {
        item->round = round; /* the item holds the reference from here on */
        item->campaign = c;
        size_t bad = 0;
        if (hush_batch_decode_reports(round->mech, hdr.reports, &item->reports,
                                      &item->n_reports, &bad, &err) != 0) {
            rc = refuse(h, c, REJECT_INVALID, n, f,
                        err.code == HUSH_ENOMEM ? HUSH_ENOMEM : HUSH_EINVAL,
                        "invalid_report", err.msg);
            hush__item_free(item);
            item = NULL;
        } else {
            memcpy(item->batch_id, hdr.batch_id, sizeof item->batch_id);
        }
    }
    /* tokens last: a batch refused for anything else spends none */
    if (rc == 0 && (c->require_tokens || hdr.tokens != NULL)) {
        rc = c->require_tokens
                 ? hush__tokens_redeem(h, hdr.tokens, n, hdr.batch_id, f)
                 : hush__fail_set(f, HUSH_EINVAL, "invalid_token",
                                  "this campaign takes no tokens: keep them");
        if (rc != 0) {
            hush__metrics_reject(&h->metrics, REJECT_TOKEN, n);
            hush__campaign_reject(c, REJECT_TOKEN, n);
            hush__item_free(item);
            item = NULL;
        }
    }
    json_decref(doc);
    *out = item;
    return rc;
}

void hush__batch_submit(hush_collector *h, hush__item *item)
{
    /* the support counting of a large OLH or OUE batch is done by a counter
     * thread (several run at once), neither in an HTTP thread (its other
     * connections would wait) nor in the writer (every campaign would) */
    const hush_ldp_params *mp = hush_ldp_get_params(item->round->mech);
    bool heavy = (mp->mechanism == HUSH_LDP_OLH || mp->mechanism == HUSH_LDP_OUE) &&
                 (uint64_t)item->n_reports * mp->domain >= DELTA_MIN_WORK;
    if (heavy) {
        hush__count_enqueue(h, item);
    } else {
        hush__enqueue(h, item);
    }
}
