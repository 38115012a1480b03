/*
 * metrics.c - counters and histograms (rendered for GET /metrics by
 * api_metrics.c).
 *
 * Counters are updated with atomic adds from any thread; the histograms'
 * floating-point sums take a small lock.  Nothing here knows anything about
 * clients: there is no per-client dimension.
 */
#include <stdio.h>
#include <stdlib.h>

#include "domain.h"

const int hush__status_codes[HUSH__N_STATUS] = {200, 201, 204, 301, 302, 304, 400,
                                                401, 403, 404, 405, 409, 410, 413,
                                                415, 422, 429, 500, 502, 503, 0};
const double hush__commit_bounds_s[HUSH__COMMIT_BUCKETS] = {
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};
const char *const hush__reject_names[REJECT_COUNT] = {
    "malformed", "invalid_report", "unknown_campaign", "round_closed",   "duplicate",
    "too_large", "sealed",         "unavailable",      "campaign_ended", "token"};
void hush__metrics_init(hush__metrics *m)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
}

void hush__metrics_dispose(hush__metrics *m)
{
    pthread_mutex_destroy(&m->lock);
}

void hush__metrics_request(hush__metrics *m, enum hush__route r, int status)
{
    int i = 0;
    while (i < HUSH__N_STATUS - 1 && hush__status_codes[i] != status) {
        i++;
    }
    __atomic_add_fetch(&m->requests[r][i], 1, __ATOMIC_RELAXED);
}

void hush__metrics_reject(hush__metrics *m, enum hush__reject why, uint64_t reports)
{
    __atomic_add_fetch(&m->reports_rejected[why], reports, __ATOMIC_RELAXED);
    __atomic_add_fetch(&m->batches_rejected[why], 1, __ATOMIC_RELAXED);
}

void hush__metrics_commit(hush__metrics *m, double seconds, size_t batches)
{
    int b = 0;
    while (b < HUSH__COMMIT_BUCKETS && seconds > hush__commit_bounds_s[b]) {
        b++;
    }
    int k = 0;
    while (k < HUSH__BATCH_BUCKETS && batches > ((size_t)1 << k)) {
        k++;
    }
    pthread_mutex_lock(&m->lock);
    m->commit_bucket[b]++;
    m->commit_sum_s += seconds;
    m->commit_count++;
    m->batches_bucket[k]++;
    m->batches_sum += batches;
    pthread_mutex_unlock(&m->lock);
}
