/*
 * api_metrics.c - GET /metrics: every counter and histogram of metrics.c,
 * per-campaign counts, the process_* family and build information, in the
 * Prometheus text exposition format (version 0.0.4).  Nothing here has a
 * per-client dimension.
 */
#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "api.h"

/* The exposition is written into a hush__buf (capped at 64 MiB): a failed
 * append fails the buffer, and the page is then answered 500, never sent
 * truncated. */
#define METRICS_MAX ((size_t)64 << 20)

/* The process_* family every Prometheus client exports, from /proc. */
static void process_metrics(hush__buf *t)
{
    long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/stat", "r");
    char buf[1024];
    size_t n = f != NULL ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f != NULL) {
        fclose(f);
    }
    buf[n] = '\0';
    /* fields after the command's closing parenthesis: 3 state ... 14 utime
     * 15 stime ... 22 starttime 23 vsize 24 rss */
    const char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0, start = 0, vsize = 0;
    long long rss = 0;
    if (p != NULL && tick > 0 &&
        sscanf(
            p + 2,
            "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d "
            "%*d %llu %llu %lld",
            &ut, &st, &start, &vsize, &rss) == 5) {
        double boot = 0;
        FILE *s = fopen("/proc/stat", "r");
        char line[256];
        while (s != NULL && fgets(line, sizeof line, s) != NULL) {
            unsigned long long bt;
            if (sscanf(line, "btime %llu", &bt) == 1) {
                boot = (double)bt;
            }
        }
        if (s != NULL) {
            fclose(s);
        }
        hush__buf_addf(
            t,
            "# HELP process_cpu_seconds_total User and system CPU time spent, seconds.\n"
            "# TYPE process_cpu_seconds_total counter\n"
            "process_cpu_seconds_total %.2f\n"
            "# HELP process_start_time_seconds Start time of the process since the "
            "epoch, "
            "seconds.\n"
            "# TYPE process_start_time_seconds gauge\n"
            "process_start_time_seconds %.2f\n"
            "# HELP process_virtual_memory_bytes Virtual memory size, bytes.\n"
            "# TYPE process_virtual_memory_bytes gauge\n"
            "process_virtual_memory_bytes %llu\n"
            "# HELP process_resident_memory_bytes Resident memory size, bytes.\n"
            "# TYPE process_resident_memory_bytes gauge\n"
            "process_resident_memory_bytes %lld\n",
            (double)(ut + st) / (double)tick, boot + (double)start / (double)tick, vsize,
            rss * (long long)page);
    }
    long fds = 0;
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
        fds += e->d_name[0] != '.';
    }
    if (d != NULL) {
        closedir(d);
        struct rlimit rl;
        hush__buf_addf(t,
                       "# HELP process_open_fds Open file descriptors.\n"
                       "# TYPE process_open_fds gauge\n"
                       "process_open_fds %ld\n",
                       fds - 1 /* the directory's own */);
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
            hush__buf_addf(t,
                           "# HELP process_max_fds Maximum open file descriptors.\n"
                           "# TYPE process_max_fds gauge\n"
                           "process_max_fds %llu\n",
                           (unsigned long long)rl.rlim_cur);
        }
    }
}

/* Per campaign: what operators ask first when devices' uploads vanish. */
static void campaign_metrics(hush_collector *h, hush__buf *t)
{
    hush__buf_addf(
        t, "# HELP hush_campaign_reports_accepted_total Reports counted, by campaign.\n"
           "# TYPE hush_campaign_reports_accepted_total counter\n");
    pthread_rwlock_rdlock(&h->campaigns_lock);
    for (size_t i = 0; i < h->n_campaigns; i++) {
        const hush__campaign *c = h->campaigns[i];
        hush__buf_addf(
            t, "hush_campaign_reports_accepted_total{campaign=\"%s\"} %llu\n", c->id,
            (unsigned long long)__atomic_load_n(&c->reports_accepted, __ATOMIC_RELAXED));
    }
    hush__buf_addf(
        t, "# HELP hush_campaign_batches_accepted_total Batches counted, by campaign.\n"
           "# TYPE hush_campaign_batches_accepted_total counter\n");
    for (size_t i = 0; i < h->n_campaigns; i++) {
        const hush__campaign *c = h->campaigns[i];
        hush__buf_addf(
            t, "hush_campaign_batches_accepted_total{campaign=\"%s\"} %llu\n", c->id,
            (unsigned long long)__atomic_load_n(&c->batches_accepted, __ATOMIC_RELAXED));
    }
    static const char *const fam[2] = {"reports", "batches"};
    for (int k = 0; k < 2; k++) {
        hush__buf_addf(
            t,
            "# HELP hush_campaign_%s_rejected_total %s%s not counted, by campaign and "
            "reason (the rejections before a campaign is known are in "
            "hush_%s_rejected_total only).\n"
            "# TYPE hush_campaign_%s_rejected_total counter\n",
            fam[k], k == 0 ? "Reports" : "Batches", "", fam[k], fam[k]);
        for (size_t i = 0; i < h->n_campaigns; i++) {
            const hush__campaign *c = h->campaigns[i];
            for (int r = 0; r < REJECT_COUNT; r++) {
                uint64_t v = __atomic_load_n(k == 0 ? &c->reports_rejected[r]
                                                    : &c->batches_rejected[r],
                                             __ATOMIC_RELAXED);
                if (v != 0) {
                    hush__buf_addf(
                        t,
                        "hush_campaign_%s_rejected_total{campaign=\"%s\",reason=\"%s\"} "
                        "%llu\n",
                        fam[k], c->id, hush__reject_names[r], (unsigned long long)v);
                }
            }
        }
    }
    pthread_rwlock_unlock(&h->campaigns_lock);
}

/* Requests by route, method and status. */
static void request_metrics(const hush__metrics *m, hush__buf *t)
{
    hush__buf_addf(t,
                   "# HELP hush_http_requests_total HTTP requests by route and status.\n"
                   "# TYPE hush_http_requests_total counter\n");
    for (int r = 0; r < ROUTE_COUNT; r++) {
        for (int s = 0; s < HUSH__N_STATUS; s++) {
            uint64_t v = __atomic_load_n(&m->requests[r][s], __ATOMIC_RELAXED);
            if (v != 0) {
                char code[16];
                snprintf(code, sizeof code, "%d", hush__status_codes[s]);
                hush__buf_addf(
                    t,
                    "hush_http_requests_total{method=\"%s\",route=\"%s\",status=\"%s\"} "
                    "%llu\n",
                    hush__route_method((enum hush__route)r),
                    hush__route_name((enum hush__route)r),
                    hush__status_codes[s] != 0 ? code : "other", (unsigned long long)v);
            }
        }
    }
}

/* Timeouts, and reports and batches accepted and refused by reason. */
static void count_metrics(hush__metrics *m, hush__buf *t)
{
    hush__buf_addf(
        t,
        "# HELP hush_requests_timed_out_total Connections closed because a request's "
        "head and body took longer than --request-timeout.\n"
        "# TYPE hush_requests_timed_out_total counter\n"
        "hush_requests_timed_out_total %llu\n",
        (unsigned long long)__atomic_load_n(&m->requests_timed_out, __ATOMIC_RELAXED));
    hush__buf_addf(
        t,
        "# HELP hush_secagg_attempts_total Secure-aggregation attempts of model "
        "rounds by outcome: released (a sum), failed (nothing released; the round "
        "tried again), given_up (the round's last failure: the next round opened).\n"
        "# TYPE hush_secagg_attempts_total counter\n"
        "hush_secagg_attempts_total{outcome=\"released\"} %llu\n"
        "hush_secagg_attempts_total{outcome=\"failed\"} %llu\n"
        "hush_secagg_attempts_total{outcome=\"given_up\"} %llu\n",
        (unsigned long long)__atomic_load_n(&m->secagg_released, __ATOMIC_RELAXED),
        (unsigned long long)__atomic_load_n(&m->secagg_failed, __ATOMIC_RELAXED),
        (unsigned long long)__atomic_load_n(&m->secagg_given_up, __ATOMIC_RELAXED));
    hush__buf_addf(
        t,
        "# HELP hush_tokens_issued_total Anonymous tokens issued (POST /v1/tokens).\n"
        "# TYPE hush_tokens_issued_total counter\n"
        "hush_tokens_issued_total %llu\n"
        "# HELP hush_token_requests_refused_total Token issuance requests refused, by "
        "reason.\n"
        "# TYPE hush_token_requests_refused_total counter\n"
        "hush_token_requests_refused_total{reason=\"attestation\"} %llu\n"
        "hush_token_requests_refused_total{reason=\"limit\"} %llu\n"
        "hush_token_requests_refused_total{reason=\"invalid\"} %llu\n"
        "hush_token_requests_refused_total{reason=\"off\"} %llu\n",
        (unsigned long long)__atomic_load_n(&m->tokens_issued, __ATOMIC_RELAXED),
        (unsigned long long)__atomic_load_n(&m->token_requests_refused[0],
                                            __ATOMIC_RELAXED),
        (unsigned long long)__atomic_load_n(&m->token_requests_refused[1],
                                            __ATOMIC_RELAXED),
        (unsigned long long)__atomic_load_n(&m->token_requests_refused[2],
                                            __ATOMIC_RELAXED),
        (unsigned long long)__atomic_load_n(&m->token_requests_refused[3],
                                            __ATOMIC_RELAXED));
    hush__buf_addf(
        t,
        "# HELP hush_reports_accepted_total Reports committed and counted.\n"
        "# TYPE hush_reports_accepted_total counter\n"
        "hush_reports_accepted_total %llu\n"
        "# HELP hush_batches_accepted_total Batches committed and counted.\n"
        "# TYPE hush_batches_accepted_total counter\n"
        "hush_batches_accepted_total %llu\n"
        "# HELP hush_reports_rejected_total Reports not counted, by reason.\n"
        "# TYPE hush_reports_rejected_total counter\n",
        (unsigned long long)__atomic_load_n(&m->reports_accepted, __ATOMIC_RELAXED),
        (unsigned long long)__atomic_load_n(&m->batches_accepted, __ATOMIC_RELAXED));
    for (int i = 0; i < REJECT_COUNT; i++) {
        hush__buf_addf(t, "hush_reports_rejected_total{reason=\"%s\"} %llu\n",
                       hush__reject_names[i],
                       (unsigned long long)__atomic_load_n(&m->reports_rejected[i],
                                                           __ATOMIC_RELAXED));
    }
    hush__buf_addf(
        t,
        "# HELP hush_batches_rejected_total Batches not counted, by reason (duplicates "
        "are acknowledged; the rest are refused).\n"
        "# TYPE hush_batches_rejected_total counter\n");
    for (int i = 0; i < REJECT_COUNT; i++) {
        hush__buf_addf(t, "hush_batches_rejected_total{reason=\"%s\"} %llu\n",
                       hush__reject_names[i],
                       (unsigned long long)__atomic_load_n(&m->batches_rejected[i],
                                                           __ATOMIC_RELAXED));
    }
}

/* The commit histograms and the rebuild time (under the metrics lock). */
static void histogram_metrics(hush__metrics *m, hush__buf *t)
{
    pthread_mutex_lock(&m->lock);
    hush__buf_addf(
        t, "# HELP hush_commit_duration_seconds Group commit latency (write + fsync).\n"
           "# TYPE hush_commit_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (int b = 0; b < HUSH__COMMIT_BUCKETS; b++) {
        cum += m->commit_bucket[b];
        hush__buf_addf(t, "hush_commit_duration_seconds_bucket{le=\"%g\"} %llu\n",
                       hush__commit_bounds_s[b], (unsigned long long)cum);
    }
    cum += m->commit_bucket[HUSH__COMMIT_BUCKETS];
    hush__buf_addf(t,
                   "hush_commit_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
                   "hush_commit_duration_seconds_sum %.6f\n"
                   "hush_commit_duration_seconds_count %llu\n",
                   (unsigned long long)cum, m->commit_sum_s,
                   (unsigned long long)m->commit_count);
    hush__buf_addf(t, "# HELP hush_batches_per_commit Batches sharing one commit.\n"
                      "# TYPE hush_batches_per_commit histogram\n");
    cum = 0;
    for (int k = 0; k < HUSH__BATCH_BUCKETS; k++) {
        cum += m->batches_bucket[k];
        hush__buf_addf(t, "hush_batches_per_commit_bucket{le=\"%d\"} %llu\n", 1 << k,
                       (unsigned long long)cum);
    }
    cum += m->batches_bucket[HUSH__BATCH_BUCKETS];
    hush__buf_addf(t,
                   "hush_batches_per_commit_bucket{le=\"+Inf\"} %llu\n"
                   "hush_batches_per_commit_sum %llu\n"
                   "hush_batches_per_commit_count %llu\n",
                   (unsigned long long)cum, (unsigned long long)m->batches_sum,
                   (unsigned long long)m->commit_count);
    hush__buf_addf(
        t,
        "# HELP hush_aggregate_rebuild_seconds Time to rebuild the aggregates at start.\n"
        "# TYPE hush_aggregate_rebuild_seconds gauge\n"
        "hush_aggregate_rebuild_seconds %.6f\n",
        m->rebuild_seconds);
    pthread_mutex_unlock(&m->lock);
}

char *hush__metrics_render(hush_collector *h, size_t *len)
{
    hush__buf t;
    hush__buf_init(&t, METRICS_MAX);
    hush__buf_addf(
        &t,
        "# HELP hush_build_info Versions of hushd and the libraries it runs on.\n"
        "# TYPE hush_build_info gauge\n"
        "hush_build_info{version=\"%s\",sqlite=\"%s\",microhttpd=\"%s\","
        "jansson=\"%s\",sodium=\"%s\"} 1\n",
        HUSH_VERSION_STRING, sqlite3_libversion(), MHD_get_version(), JANSSON_VERSION,
        sodium_version_string());
    process_metrics(&t);
    campaign_metrics(h, &t);
    request_metrics(&h->metrics, &t);
    count_metrics(&h->metrics, &t);
    histogram_metrics(&h->metrics, &t);
    uint64_t retries = 0, reconnects = 0;
    const char *kind = hush__store_kind(h, &retries, &reconnects);
    hush__buf_addf(&t,
                   "# HELP hush_store_retries_total Store transactions retried after a "
                   "serialization failure or deadlock.\n"
                   "# TYPE hush_store_retries_total counter\n"
                   "hush_store_retries_total{store=\"%s\"} %llu\n"
                   "# HELP hush_store_reconnects_total Store connections re-established "
                   "after they were lost.\n"
                   "# TYPE hush_store_reconnects_total counter\n"
                   "hush_store_reconnects_total{store=\"%s\"} %llu\n",
                   kind, (unsigned long long)retries, kind,
                   (unsigned long long)reconnects);
    return hush__buf_take(&t, len); /* NULL (a 500) if any append failed */
}

/* The page is whole or a 500: never a truncated 200. */
enum MHD_Result hush__api_metrics(hush__req *rq)
{
    size_t len = 0;
    char *text = hush__metrics_render(rq->h, &len);
    return hush__reply(rq, 200, text, len, "text/plain; version=0.0.4", NULL, NULL);
}
