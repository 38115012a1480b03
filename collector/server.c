/*
 * server.c - starting and stopping the collector: store, keys, campaigns,
 * aggregates, writer thread, HTTP, in that order, and back.
 *
 * Stopping is graceful: the listening socket closes first, requests in
 * flight finish (their batches are committed by the writer and answered),
 * then the writer drains its queue and checkpoints, and only then do the
 * HTTP threads and the store close.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "http.h"

static void destroy(hush_collector *h)
{
    hush__poller_stop(h);
    hush__refiner_stop(h);
    hush__http_stop(h);
    hush__counters_stop(h); /* what they hold goes to the writer */
    hush__writer_stop(h);
    if (h->store != NULL) {
        h->store->ops->close(h->store);
    }
    for (size_t i = 0; i < h->n_campaigns; i++) {
        hush__campaign_free(h->campaigns[i]);
    }
    hush_free(h->campaigns);
    hush__corpus_free(h);
    hush_wordvec_free(h->wordvec);
    hush__tasks_free(h);
    hush_free(h->keys_json);
    hush_free(h->list_json);
    if (h->access_log != NULL) {
        fflush(h->access_log);
        if (h->access_log_owned) {
            fclose(h->access_log);
        }
    }
    sodium_memzero(h->sign_sk, sizeof h->sign_sk);
    sodium_memzero(h->seal_sk, sizeof h->seal_sk);
    pthread_rwlock_destroy(&h->campaigns_lock);
    pthread_mutex_destroy(&h->queue_lock);
    pthread_cond_destroy(&h->queue_cond);
    pthread_mutex_destroy(&h->log_lock);
    pthread_mutex_destroy(&h->admin_lock);
    pthread_mutex_destroy(&h->sign_lock);
    pthread_mutex_destroy(&h->count_lock);
    pthread_cond_destroy(&h->count_cond);
    hush__metrics_dispose(&h->metrics);
    hush_free(h);
}

int hush_collector_start(const hush_collector_config *cfg, hush_collector **out,
                         hush_err *err)
{
    if (hush_global_init() != 0) {
        return hush_err_set(err, HUSH_EIO, "libsodium failed to initialise");
    }
    hush_collector *h = hush_calloc(1, sizeof *h);
    if (h == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    h->cfg = *cfg;
    h->boot_id = randombytes_random();
    /* writers first: a round close must not wait behind a stream of
     * readers (the writer thread reads under it for every commit) */
    pthread_rwlockattr_t rwa;
    pthread_rwlockattr_init(&rwa);
    pthread_rwlockattr_setkind_np(&rwa, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&h->campaigns_lock, &rwa);
    pthread_rwlockattr_destroy(&rwa);
    pthread_mutex_init(&h->queue_lock, NULL);
    pthread_mutex_init(&h->log_lock, NULL);
    pthread_mutex_init(&h->admin_lock, NULL);
    pthread_mutex_init(&h->sign_lock, NULL);
    pthread_mutex_init(&h->count_lock, NULL);
    pthread_cond_init(&h->count_cond, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->queue_cond, &ca);
    pthread_condattr_destroy(&ca);
    hush__metrics_init(&h->metrics);
    int rc = 0;
    if (strcmp(cfg->access_log, "-") == 0) {
        h->access_log = stderr;
    } else if (cfg->access_log[0] != '\0') {
        h->access_log = fopen(cfg->access_log, "a");
        h->access_log_owned = h->access_log != NULL;
        if (h->access_log == NULL) {
            rc = hush_err_set(err, HUSH_EIO, "cannot open the access log %s",
                              cfg->access_log);
            goto fail;
        }
    }
    if ((rc = hush__keys_load(h, err)) != 0 || (rc = hush__corpus_load(h, err)) != 0 ||
        (h->cfg.word_vectors[0] != '\0' &&
         (rc = hush_wordvec_load(h->cfg.word_vectors, &h->wordvec, err)) != 0) ||
        (rc = hush__admin_token_load(h, err)) != 0 ||
        (rc = hush__tokens_init(h, err)) != 0 ||
        (rc = strncmp(cfg->store, "sqlite:", 7) == 0
                  ? hush__store_sqlite_open(cfg->store + strlen("sqlite:"),
                                            cfg->sync_full, &h->store, err)
                  : hush__store_pg_open(cfg->store, cfg->node_id, &h->store, err)) != 0 ||
        (rc = hush__state_load(h, err)) != 0) {
        goto fail;
    }
    /* a PostgreSQL store may be shared: read what the other nodes hold now,
     * then every poll interval */
    h->clustered = strcmp(h->store->ops->kind, "postgres") == 0;
    if (h->clustered && ((rc = hush__cluster_sync(h, err)) != 0 ||
                         (rc = hush__poller_start(h, err)) != 0)) {
        goto fail;
    }
    if (h->list_json == NULL && (rc = hush__campaigns_list_rebuild(h)) != 0) {
        hush_err_set(err, rc, "out of memory");
        goto fail;
    }
    if ((rc = hush__writer_start(h, err)) != 0 ||
        (rc = hush__counters_start(h, err)) != 0) {
        goto fail;
    }
    if (cfg->demo && (rc = hush__demo_campaign(h, err)) != 0) {
        goto fail;
    }
    if ((rc = hush__http_start(h, err)) != 0 || (rc = hush__refiner_start(h, err)) != 0) {
        goto fail;
    }
    *out = h;
    return 0;
fail:
    destroy(h);
    return rc;
}

uint16_t hush_collector_port(const hush_collector *h)
{
    return h->port;
}

void hush_collector_stop(hush_collector *h)
{
    if (h == NULL) {
        return;
    }
    if (hush__http_quiesce(h)) {
        /* no new connections, and no new batches on the open ones (503:
         * devices retry with the same batch id); every batch already
         * waiting is committed and answered before anything stops (a
         * connection still suspended when the HTTP daemon stops would
         * abort the process: libmicrohttpd panics) */
        __atomic_store_n(&h->draining, true, __ATOMIC_SEQ_CST);
        for (int i = 0; i < 3000; i++) {
            unsigned open = hush__http_connections(h);
            unsigned waiting = __atomic_load_n(&h->waiting, __ATOMIC_SEQ_CST);
            if (waiting == 0 && (open == 0 || i >= 100)) {
                break; /* after 1 s only idle keep-alive connections are left */
            }
            usleep(10000);
        }
    }
    hush__poller_stop(h);
    hush__refiner_stop(h);
    hush__writer_stop(h);
    /* tests only: widen the window between the writer's end and the HTTP
     * daemon's, where a batch queued too late would wait forever
     * (tests/e2e/test_collector.py, sigterm_under_continuous_load) */
    const char *pause = getenv("HUSH_TEST_STOP_PAUSE_MS");
    if (pause != NULL) {
        usleep((useconds_t)strtoul(pause, NULL, 10) * 1000);
    }
    destroy(h);
}

int hush_collector_reload(hush_collector *h, hush_err *err)
{
    int rc = 0;
    if (h->access_log_owned) {
        FILE *f = fopen(h->cfg.access_log, "a");
        if (f == NULL) {
            rc = hush_err_set(err, HUSH_EIO, "cannot reopen the access log %s: %s",
                              h->cfg.access_log, strerror(errno));
        } else {
            pthread_mutex_lock(&h->log_lock);
            FILE *old = h->access_log;
            h->access_log = f;
            pthread_mutex_unlock(&h->log_lock);
            fclose(old); /* flushes what the old file still buffered */
        }
    }
    if (rc == 0) {
        rc = hush__admin_token_load(h, err);
    }
    return rc;
}
