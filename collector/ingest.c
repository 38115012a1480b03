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

static void *writer_main(void *arg)
{
    hush_collector *h = arg;
    double next_checkpoint = hush__now() + h->cfg.checkpoint_interval_s;
    int64_t checkpointed = h->last_rowid;
    for (;;) {
        bool stop = false;
        hush__item *items =
            take(h, h->cfg.max_batches_per_commit, next_checkpoint, &stop);
        if (items != NULL) {
            size_t n = 0;
            for (hush__item *it = items; it != NULL; it = it->next) {
                n++;
            }
            double t0 = hush__now();
            int64_t last = h->last_rowid;
            /* A round closes under the write lock: holding the read lock from
             * this check to the last add means a batch is either counted in
             * the round it names before it closes, or refused with 409. */
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
                          "store commit failed, %zu batches answered 503 (clients retry "
                          "with the same batch ids): %s",
                          n, cerr.msg);
            } else if (!was_ok) {
                hush__log(h, "info", "store commits work again");
            }
            for (hush__item *it = items; it != NULL; it = it->next) {
                if (it->closed) {
                    it->status = 409;
                    hush__metrics_reject(&h->metrics, REJECT_ROUND, it->n_reports);
                    hush__campaign_reject(it->campaign, REJECT_ROUND, it->n_reports);
                    continue;
                }
                if (rc != 0) {
                    it->status = 503;
                    hush__metrics_reject(&h->metrics, REJECT_UNAVAILABLE, it->n_reports);
                    hush__campaign_reject(it->campaign, REJECT_UNAVAILABLE,
                                          it->n_reports);
                    continue;
                }
                it->status = 200;
                if (it->duplicate) {
                    hush__metrics_reject(&h->metrics, REJECT_DUPLICATE, it->n_reports);
                    hush__campaign_reject(it->campaign, REJECT_DUPLICATE, it->n_reports);
                    continue;
                }
                /* validated before it was queued: the add cannot fail; a
                 * large batch was counted already and is merged */
                size_t bytes = it->n_reports * hush_ldp_report_size(it->round->mech);
                pthread_mutex_lock(&it->round->lock);
                int arc = it->delta != NULL
                              ? hush_ldp_agg_merge(it->round->agg, it->delta, NULL)
                              : hush_ldp_agg_add(it->round->agg, it->reports, bytes, NULL,
                                                 NULL);
                it->round->version++;
                pthread_mutex_unlock(&it->round->lock);
                if (arc != 0) {
                    it->status = 500;
                    continue;
                }
                __atomic_add_fetch(&h->metrics.reports_accepted, it->n_reports,
                                   __ATOMIC_RELAXED);
                __atomic_add_fetch(&h->metrics.batches_accepted, 1, __ATOMIC_RELAXED);
                __atomic_add_fetch(&it->campaign->reports_accepted, it->n_reports,
                                   __ATOMIC_RELAXED);
                __atomic_add_fetch(&it->campaign->batches_accepted, 1, __ATOMIC_RELAXED);
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
