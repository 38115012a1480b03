/*
 * collector_internal.h - what the files of collector/ share: the server
 * object, campaigns and their per-round aggregates, the ingest queue, the
 * store, metrics.
 *
 * Concurrency: HTTP requests run on libmicrohttpd's thread pool; one writer
 * thread commits report batches and is the only thread that adds to
 * aggregates; each round's aggregate has its own lock (readers take it to
 * estimate).  Campaigns are never removed, so a campaign pointer found
 * under the registry lock stays valid for the server's life; its published
 * fields are swapped only under the registry's write lock.
 */
#ifndef HUSH_COLLECTOR_INTERNAL_H
#define HUSH_COLLECTOR_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <sys/types.h>

#include "hush_collector.h"
#include "hush_protocol.h"

/* ---- metrics ---- */

enum hush__route {
    ROUTE_HEALTHZ,
    ROUTE_METRICS,
    ROUTE_KEYS,
    ROUTE_CAMPAIGNS_LIST,
    ROUTE_CAMPAIGNS_CREATE,
    ROUTE_CAMPAIGN_GET,
    ROUTE_REPORTS,
    ROUTE_ESTIMATES,
    ROUTE_OTHER,
    ROUTE_COUNT
};

enum hush__reject {
    REJECT_MALFORMED, /* not JSON, wrong types, missing fields */
    REJECT_INVALID,   /* a report out of range for its mechanism */
    REJECT_UNKNOWN_CAMPAIGN,
    REJECT_ROUND,     /* closed or future round */
    REJECT_DUPLICATE, /* a batch_id seen before (acknowledged, not counted) */
    REJECT_TOO_LARGE,
    REJECT_SEALED,      /* a sealed batch that does not open */
    REJECT_UNAVAILABLE, /* the store failed */
    REJECT_COUNT
};

#define HUSH__N_STATUS 13
#define HUSH__COMMIT_BUCKETS 12
#define HUSH__BATCH_BUCKETS 14

typedef struct hush__metrics {
    uint64_t requests[ROUTE_COUNT][HUSH__N_STATUS];
    uint64_t reports_accepted, batches_accepted;
    uint64_t reports_rejected[REJECT_COUNT];
    uint64_t batches_rejected[REJECT_COUNT];
    uint64_t commit_bucket[HUSH__COMMIT_BUCKETS + 1]; /* last: +Inf */
    double commit_sum_s;
    uint64_t commit_count;
    uint64_t batches_bucket[HUSH__BATCH_BUCKETS + 1];
    uint64_t batches_sum;
    double rebuild_seconds;
    pthread_mutex_t lock; /* for the histograms' sums */
} hush__metrics;

void hush__metrics_init(hush__metrics *m);
void hush__metrics_dispose(hush__metrics *m);
void hush__metrics_request(hush__metrics *m, enum hush__route r, int status);
void hush__metrics_reject(hush__metrics *m, enum hush__reject why, uint64_t reports);
void hush__metrics_commit(hush__metrics *m, double seconds, size_t batches);
char *hush__metrics_render(hush__metrics *m, size_t *len); /* malloc'd text */
const char *hush__route_name(enum hush__route r);

/* ---- campaigns ---- */

#define HUSH__EST_CACHE 4

typedef struct hush__round {
    uint32_t round;
    hush_ldp_agg *agg;
    pthread_mutex_t lock;
    uint64_t version; /* bumped by every add */
    struct {
        uint64_t version;
        uint32_t top;
        char *json; /* malloc'd response body */
        size_t len;
    } cache[HUSH__EST_CACHE];
    unsigned cache_next;
} hush__round;

typedef struct hush__campaign {
    char id[HUSH_CAMPAIGN_ID_MAX + 1];
    char *name;
    int64_t created_at;
    /* the current round's publication: body, signature, parsed form */
    uint32_t round;
    char *pub_body;
    size_t pub_len;
    char *signature;
    /* the device view (synthetic campaigns; NULL for polls, whose devices
     * get the full publication): candidate_count in place of the candidate
     * list, so devices download rows of embeddings, not texts; signed too */
    char *dev_body;
    size_t dev_len;
    char *dev_signature;
    hush_publication *pub;
    hush_ldp *mech;
    hush__round *agg; /* the current round's aggregate */
} hush__campaign;

/* ---- ingest ---- */

typedef struct hush__item {
    struct hush__item *next;
    struct MHD_Connection *conn;
    hush__campaign *campaign;
    hush__round *round;
    uint8_t batch_id[HUSH_BATCH_ID_BYTES];
    uint8_t *reports;
    size_t n_reports;
    /* set by the writer */
    int status;
    bool duplicate;
    bool done;
} hush__item;

/* ---- the server ---- */

struct hush_collector {
    hush_collector_config cfg;
    struct MHD_Daemon *mhd;
    uint16_t port;

    sqlite3 *db;
    pthread_mutex_t db_lock;

    uint8_t sign_pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t sign_sk[crypto_sign_SECRETKEYBYTES];
    uint8_t seal_pk[crypto_box_PUBLICKEYBYTES];
    uint8_t seal_sk[crypto_box_SECRETKEYBYTES];
    uint8_t admin_hash[crypto_generichash_BYTES];
    char *keys_json; /* GET /v1/keys body */

    hush__campaign **campaigns;
    size_t n_campaigns, cap_campaigns;
    pthread_rwlock_t campaigns_lock;
    char *list_json; /* GET /v1/campaigns body, rebuilt on change */

    pthread_t writer;
    bool writer_started;
    pthread_mutex_t queue_lock;
    pthread_cond_t queue_cond;
    hush__item *queue_head, *queue_tail;
    bool stopping;
    int64_t last_rowid; /* highest batch row added to the aggregates */

    FILE *access_log;
    bool access_log_owned;
    double log_flushed; /* when the access log was last flushed */
    pthread_mutex_t log_lock;

    hush__metrics metrics;
};

/* keys.c */
int hush__mkdir_p(const char *path, mode_t mode, hush_err *err);
int hush__keys_load(hush_collector *h, hush_err *err);
int hush__admin_token_load(hush_collector *h, hush_err *err);
bool hush__admin_ok(const hush_collector *h, const char *authorization);

/* store.c */
int hush__store_open(hush_collector *h, hush_err *err);
void hush__store_close(hush_collector *h);
int hush__store_save_campaign(hush_collector *h, const hush__campaign *c,
                              const char *spec, hush_err *err);
int hush__store_load_campaigns(hush_collector *h, hush_err *err);
/* Commits a group of batches in one transaction; sets each item's
 * duplicate flag; returns 0 or an error (nothing committed). */
int hush__store_commit(hush_collector *h, hush__item *items, int64_t *last_rowid);
int hush__store_checkpoint(hush_collector *h, hush_err *err);
int hush__store_rebuild(hush_collector *h, hush_err *err);

/* campaigns.c */
hush__campaign *hush__campaign_find(hush_collector *h, const char *id);
int hush__campaign_create(hush_collector *h, const char *body, size_t len,
                          json_t **response, int *status);
/* Builds and installs a campaign from a stored publication (at start). */
int hush__campaign_install(hush_collector *h, const char *id, const char *name,
                           int64_t created_at, uint32_t round, const char *pub_body,
                           size_t pub_len, const char *signature, hush_err *err);
void hush__campaign_free(hush__campaign *c);
int hush__campaigns_list_rebuild(hush_collector *h);
/* The estimates response body (malloc'd); *status is the HTTP status. */
char *hush__estimates_json(hush_collector *h, hush__campaign *c, const char *round_arg,
                           const char *top_arg, int *status, size_t *len);
int hush__demo_campaign(hush_collector *h, hush_err *err);

/* ingest.c */
int hush__writer_start(hush_collector *h, hush_err *err);
void hush__writer_stop(hush_collector *h);
void hush__enqueue(hush_collector *h, hush__item *item);
void hush__item_free(hush__item *item);

/* http.c */
int hush__http_start(hush_collector *h, hush_err *err);
void hush__http_stop(hush_collector *h);
/* Answers an error as {"error":{"code","message"}}: malloc'd body. */
char *hush__error_json(const char *code, const char *message, size_t *len);

/* A time in seconds (CLOCK_MONOTONIC) and wall-clock seconds since 1970. */
double hush__now(void);
int64_t hush__wall(void);

#endif
