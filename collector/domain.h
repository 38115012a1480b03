/*
 * domain.h - the collector's domain: the server object, campaigns and
 * their per-round aggregates, refinement, estimates, the ingest queue,
 * model tasks, keys, metrics.  Functions here return 0 or a HUSH_E… code
 * with a hush__fail or hush_err; none knows HTTP (the API layer, api.h,
 * calls down into them) or SQL (they reach the store through store.h).
 *
 * Concurrency: HTTP requests run on libmicrohttpd's thread pool; one writer
 * thread commits report batches and is the only thread that adds to
 * aggregates; each round's aggregate has its own lock (readers take it to
 * estimate).  Campaigns are never removed, so a campaign pointer found
 * under the registry lock stays valid for the server's life; its published
 * fields are swapped only under the registry's write lock.
 */
#ifndef HUSH_COLLECTOR_DOMAIN_H
#define HUSH_COLLECTOR_DOMAIN_H

#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/types.h>

#include "fail.h"
#include "hush_buf.h"
#include "hush_collector.h"
#include "hush_protocol.h"
#include "hush_token.h"
#include "routes.h"
#include "store.h"
#include "util.h"

/* The longest line of the generator corpus (--generator-corpus). */
#define HUSH__CORPUS_LINE_MAX ((size_t)16 << 20)

/* ---- metrics ---- */

enum hush__reject {
    REJECT_MALFORMED, /* not JSON, wrong types, missing fields */
    REJECT_INVALID,   /* a report out of range for its mechanism */
    REJECT_UNKNOWN_CAMPAIGN,
    REJECT_ROUND,     /* closed or future round */
    REJECT_DUPLICATE, /* a batch_id seen before (acknowledged, not counted) */
    REJECT_TOO_LARGE,
    REJECT_SEALED,      /* a sealed batch that does not open */
    REJECT_UNAVAILABLE, /* the store failed */
    REJECT_ENDED,       /* the campaign has ended */
    REJECT_TOKEN,       /* missing, invalid, expired or spent anonymous tokens */
    REJECT_COUNT
};

#define HUSH__N_STATUS 21
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
    uint64_t requests_timed_out; /* closed by the request deadline */
    /* secure aggregation: sums released, attempts failed, rounds given up */
    uint64_t secagg_released, secagg_failed, secagg_given_up;
    /* anonymous tokens issued, and issuance requests refused by reason
     * (attestation, limit, invalid, off) */
    uint64_t tokens_issued, token_requests_refused[4];
    pthread_mutex_t lock; /* for the histograms' sums */
} hush__metrics;

void hush__metrics_init(hush__metrics *m);
void hush__metrics_dispose(hush__metrics *m);
void hush__metrics_request(hush__metrics *m, enum hush__route r, int status);
void hush__metrics_reject(hush__metrics *m, enum hush__reject why, uint64_t reports);
void hush__metrics_commit(hush__metrics *m, double seconds, size_t batches);
/* The statuses counted one by one (the last, 0, counts the rest), the
 * commit-latency bounds, the names of the reasons for refusals. */
extern const int hush__status_codes[HUSH__N_STATUS];
extern const double hush__commit_bounds_s[HUSH__COMMIT_BUCKETS];
extern const char *const hush__reject_names[REJECT_COUNT];

/* ---- campaigns ---- */

#define HUSH__EST_CACHE 4

/*
 * One round of a campaign: its signed publication (immutable once
 * installed) and its aggregate (under `lock`).  Rounds are reference
 * counted: the campaign holds one reference to its current round, and every
 * request or queued batch that uses a round holds one, so closing a round
 * never frees what another thread still reads.
 */
typedef struct hush__round {
    uint32_t round;
    int64_t opened_at;  /* wall clock, seconds */
    double opened_mono; /* monotonic, for automatic rounds */
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
    /* the aggregate: this node's batches */
    hush_ldp_agg *agg;
    /* the other nodes' shares as of their last checkpoints (NULL: none; a
     * node sharing a PostgreSQL store with others), and who they are:
     * [{"node", "as_of"}] (peers.c) */
    hush_ldp_agg *peers;
    json_t *peer_nodes;
    pthread_mutex_t lock;
    uint64_t version; /* bumped by every add and every change of peers */
    struct {
        uint64_t version;
        uint32_t top;
        char *json; /* malloc'd response body */
        size_t len;
    } cache[HUSH__EST_CACHE];
    unsigned cache_next;
    unsigned refs; /* atomic */
} hush__round;

typedef struct hush__campaign {
    char id[HUSH_CAMPAIGN_ID_MAX + 1];
    char *name;
    int64_t created_at;
    char *spec;        /* the creation request, canonical JSON: later rounds reuse it */
    hush__round *cur;  /* the open round: read and swapped under campaigns_lock */
    bool closing;      /* a round close is running (atomic) */
    double auto_retry; /* monotonic time before which no automatic close is tried */
    /* the end: a scheduled date ("ends_at" in the spec, 0 = none) and an
     * explicit end (POST .../end; 0 = not ended), seconds since 1970 */
    int64_t ends_at;
    int64_t ended_at;    /* atomic */
    int64_t archived_at; /* its batches deleted (POST .../archive; 0 = not) */
    bool require_tokens; /* each report must come with an anonymous token */
    /* per campaign, for operators (GET /metrics; atomic, since the start) */
    uint64_t reports_accepted, batches_accepted;
    uint64_t reports_rejected[REJECT_COUNT], batches_rejected[REJECT_COUNT];
} hush__campaign;

/* Whether a campaign has ended at `now` (seconds since 1970). */
static inline bool hush__campaign_ended(const hush__campaign *c, int64_t now)
{
    int64_t e = __atomic_load_n(&c->ended_at, __ATOMIC_ACQUIRE);
    return e != 0 || (c->ends_at != 0 && now >= c->ends_at);
}

/* Counts a campaign's rejected batch (and its reports) under `why`. */
static inline void hush__campaign_reject(hush__campaign *c, enum hush__reject why,
                                         uint64_t reports)
{
    __atomic_add_fetch(&c->reports_rejected[why], reports, __ATOMIC_RELAXED);
    __atomic_add_fetch(&c->batches_rejected[why], 1, __ATOMIC_RELAXED);
}

/* ---- ingest ---- */

typedef struct hush__item {
    struct hush__item *next;
    /* how the writer answers: called once the item is done (the HTTP layer
     * resumes the waiting connection), with `waiter` its own */
    void (*answer)(struct hush__item *item);
    void *waiter;
    struct hush_collector *owner; /* for the answer's bookkeeping */
    hush__campaign *campaign;
    hush__round *round;
    uint8_t batch_id[HUSH_BATCH_ID_BYTES];
    uint8_t *reports;
    size_t n_reports;
    /* a large batch of a mechanism whose reports each cost O(domain) to
     * count (OLH, OUE): counted into its own aggregate by the HTTP thread,
     * so that the single writer only merges (O(domain) once) instead of
     * stalling every other campaign's ingestion; NULL otherwise */
    hush_ldp_agg *delta;
    /* set by the writer */
    bool closed; /* its round closed while it waited: 409 */
    int status;
    bool duplicate;
    bool done;
} hush__item;

/* ---- federated learning tasks (models.c) ---- */

typedef struct hush__task hush__task;

/* ---- the server ---- */

struct hush__http; /* the HTTP server's own state (http.c) */

struct hush_collector {
    hush_collector_config cfg;
    struct hush__http *http;
    uint16_t port;    /* the port bound (--port 0 picks one) */
    uint32_t boot_id; /* random per start: in ETags, whose versions restart */

    hush__store *store;
    pthread_mutex_t admin_lock; /* admin_hash, which SIGHUP may replace */

    uint8_t sign_pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t sign_sk[crypto_sign_SECRETKEYBYTES];
    pthread_mutex_t sign_lock; /* the signing key, which a rotation replaces */
    uint8_t seal_pk[crypto_box_PUBLICKEYBYTES];
    uint8_t seal_sk[crypto_box_SECRETKEYBYTES];
    uint8_t admin_hash[crypto_generichash_BYTES];
    /* anonymous tokens (tokens.c): the master secret of the issuer keys,
     * a cache of epoch keys, the attestation scheme's secret */
    uint8_t token_master[32];
    pthread_mutex_t token_lock;
    struct hush__token_key {
        uint64_t epoch;
        bool set;
        uint8_t sk[32], pk[32];
    } token_keys[4];
    uint64_t token_expired_epoch; /* spent tokens before it are forgotten */
    uint8_t attest_secret[64];
    size_t attest_secret_len;
    char *keys_json; /* GET /v1/keys body */

    hush__campaign **campaigns;
    size_t n_campaigns, cap_campaigns;
    pthread_rwlock_t campaigns_lock;
    char *list_json; /* GET /v1/campaigns body (active campaigns), rebuilt on change */
    int64_t list_valid_until; /* and when a scheduled end makes it stale (atomic) */

    pthread_t writer;
    bool writer_started;
    /* the counter threads: large OLH/OUE batches counted off the writer */
    pthread_mutex_t count_lock;
    pthread_cond_t count_cond;
    hush__item *count_head, *count_tail;
    bool count_stop;
    pthread_t *counters;
    unsigned n_counters;
    pthread_mutex_t queue_lock;
    pthread_cond_t queue_cond;
    hush__item *queue_head, *queue_tail;
    bool stopping;
    /* a graceful stop: once draining, a new batch is answered 503 instead
     * of being queued; `waiting` counts connections suspended for a batch
     * (both atomic; a handler counts itself before it looks at draining) */
    bool draining;
    unsigned waiting;
    int64_t last_rowid; /* highest batch row added to the aggregates */

    FILE *access_log;
    bool access_log_owned;
    double log_flushed; /* when the access log was last flushed */
    pthread_mutex_t log_lock;

    hush__metrics metrics;

    /* federated learning tasks, under campaigns_lock like the campaigns */
    hush__task **tasks;
    size_t n_tasks;

    /* refinement */
    hush_wordvec *wordvec; /* --word-vectors, or NULL */
    char **corpus;         /* the public generator corpus, one text each */
    size_t n_corpus;
    hush__ticker refiner; /* automatic rounds, model round deadlines */

    /* several nodes on one store (cluster.c): the poller that reads what the
     * other nodes changed */
    bool clustered; /* the store is shared (PostgreSQL) */
    hush__ticker poller;
    bool poller_failing; /* (the poller thread's own) */
};

/* peers.c: the other nodes' shares of a round */
/* The round's whole aggregate: r->agg itself when no other node has a share
 * (*tmp NULL), else their sum in a new *tmp (the caller frees it).  Under
 * r->lock; NULL on ENOMEM. */
const hush_ldp_agg *hush__round_total(const hush__round *r, hush_ldp_agg **tmp);
/* The reports in the round's whole aggregate (takes r->lock). */
uint64_t hush__round_count(hush__round *r);
/* The other nodes' checkpoints of round r of the campaign read from the
 * store and installed as r's peers (the version bumped if they changed). */
int hush__peers_refresh(hush_collector *h, const char *campaign, hush__round *r,
                        hush_err *err);
/* The estimates document's account of whose reports it holds (NULL: one
 * node): {"node", "peers": [{"node", "as_of"}], "complete_as_of"}.  Under
 * r->lock. */
json_t *hush__peers_doc(const hush_collector *h, const hush__round *r);
/* A gather (store.h) that sums this node's aggregate of r with every other
 * node's share, then calls done(ctx, sum). */
typedef struct hush__gathered {
    hush__gather g;
    hush__round *r;
    hush_ldp_agg *sum;
    int (*done)(void *ctx, const hush_ldp_agg *sum, hush_err *err);
    void *ctx;
} hush__gathered;
void hush__gathered_init(hush__gathered *ga, hush__round *r,
                         int (*done)(void *ctx, const hush_ldp_agg *sum, hush_err *err),
                         void *ctx);
void hush__gathered_fini(hush__gathered *ga);

/* cluster.c: a node among several on one store */
/* Reads what other nodes changed: new campaigns, rounds they closed,
 * campaigns they ended or archived, and every open round's peers. */
int hush__cluster_sync(hush_collector *h, hush_err *err);
/* The poller thread (every --poll-interval seconds), for a shared store. */
int hush__poller_start(hush_collector *h, hush_err *err);
void hush__poller_stop(hush_collector *h);

/* keys.c */
/* Signs with the current key / copies the current public key, under
 * sign_lock (a key rotation may be replacing them). */
void hush__sign(hush_collector *h, const void *msg, size_t len,
                uint8_t sig[crypto_sign_BYTES]);
void hush__sign_pk(hush_collector *h, uint8_t pk[crypto_sign_PUBLICKEYBYTES]);
int hush__keys_load(hush_collector *h, hush_err *err);
/* rotation.c: POST /v1/keys/rotate: a new signing key, its continuity
 * document (signed by the old and the new key), every open publication
 * re-signed; *out is the answer {"signing_key", "document"}. */
int hush__keys_rotate(hush_collector *h, json_t **out, hush_err *err);
/* campaigns.c: re-signs every campaign's open round (both views; the store's copy too)
 * with the current key.  Under the campaigns write lock. */
int hush__campaigns_resign(hush_collector *h, hush_err *err);
/* models.c: ... and every model task's publication. */
void hush__tasks_resign(hush_collector *h);
/* keys.c, for rotation.c: the continuity file, the signing key saved and
 * switched to, GET /v1/keys rebuilt. */
int hush__keys_append_continuity(hush_collector *h, const char *line, hush_err *err);
int hush__keys_save_signing(hush_collector *h, const uint8_t seed[32], hush_err *err);
void hush__keys_use(hush_collector *h, const uint8_t *pk, const uint8_t *sk);
int hush__keys_json_rebuild(hush_collector *h, hush_err *err);
int hush__admin_token_load(hush_collector *h, hush_err *err);
bool hush__admin_ok(hush_collector *h, const char *authorization);

/* durable.c: what the domain keeps in the store, beyond single rows */
/* A stored campaign installed with its open round (empty aggregate);
 * HUSH_EEXIST if one with its id is installed already. */
int hush__campaign_from_row(hush_collector *h, const hush__campaign_row *row,
                            hush_err *err);
/* At start: campaigns and model tasks from the store, then every open
 * round's aggregate rebuilt from its checkpoint and the batches after it. */
int hush__state_load(hush_collector *h, hush_err *err);
/* Every open round's aggregate saved as of the last counted batch. */
int hush__checkpoint(hush_collector *h, hush_err *err);
/* Retention: the batches of closed rounds are needed by nothing once the
 * round is closed (its estimates are frozen in the store, a batch for it is
 * refused with 409 before any duplicate check, and the restart rebuild
 * replays the open rounds only).  Deletes them and says how much it freed. */
int hush__compact(hush_collector *h, hush__compaction *out, hush_err *err);
/* 0 if the store takes writes: the last commit worked and a write lock can
 * be taken now (GET /readyz). */
int hush__ready(hush_collector *h, hush_err *err);
/* The store's kind ("sqlite", "postgres") and its counters since the
 * start: transactions retried, connections re-established. */
const char *hush__store_kind(hush_collector *h, uint64_t *retries, uint64_t *reconnects);
/* Commits a group of batches in one transaction; sets each item's
 * duplicate flag; returns 0 or an error (nothing committed). */
int hush__commit_items(hush_collector *h, hush__item *items, size_t n,
                       int64_t *last_rowid, hush_err *err);

/* Ends a campaign now: 0, or HUSH_ESTATE if it had ended. */
int hush__campaign_end(hush_collector *h, hush__campaign *c, hush_err *err);
/* POST /v1/campaigns/{id}/archive: an ended campaign's batches deleted
 * (hush__store_archive_campaign); *when is the time recorded. */
int hush__campaign_archive(hush_collector *h, hush__campaign *c, int64_t *when,
                           hush__compaction *out, hush__fail *f);
/* GET /v1/campaigns: the list of every campaign, or of the active ones
 * (cached; rebuilt when a scheduled end passes).  *body new. */
int hush__campaigns_list(hush_collector *h, bool all, char **body, hush__fail *f);
/* GET /v1/campaigns/{id}: the open round's publication, full or (device)
 * the device view, and its signature.  A device view of an ended campaign
 * is refused (HUSH_ESTATE, campaign_ended).  *body new. */
int hush__campaign_view(hush_collector *h, hush__campaign *c, bool device, char **body,
                        size_t *len, char sig[128], hush__fail *f);

/* campaigns.c */
hush__campaign *hush__campaign_find(hush_collector *h, const char *id);
/* The campaign's open round, with a reference (hush__round_put). */
hush__round *hush__round_get(hush_collector *h, hush__campaign *c);
void hush__round_put(hush__round *r);
/* A round from a stored or new publication: verified with the signing key,
 * parsed, its mechanism and empty aggregate built, its device view signed.
 * One reference, the caller's. */
int hush__round_new(hush_collector *h, const char *id, uint32_t round, int64_t opened_at,
                    const char *pub_body, size_t pub_len, const char *signature,
                    hush__round **out, hush_err *err);
/* Builds and signs a publication: `cands` are {"id","text"} objects; for a
 * synthetic campaign `embedder` is a description (NULL: a new default one).
 * The mechanism follows the spec's choice for the candidates' domain. */
typedef struct hush__pub_spec {
    const char *id, *name;
    uint32_t round;
    bool synthetic;
    double epsilon;
    int64_t reports_per_day;
    double eps_per_day;
    int64_t min_reports;
    double threshold;
    const json_t *spec;     /* the creation request: mechanism, max_report_bits */
    const json_t *embedder; /* synthetic: description, or NULL */
} hush__pub_spec;
int hush__publication_build(hush_collector *h, const hush__pub_spec *ps,
                            const json_t *cands, char **pub_body, char **sig_b64,
                            hush_ldp_params *params, hush__fail *f);
/* POST /v1/campaigns: creates, stores and installs a campaign from its
 * spec (a JSON object); *out is the answer document. */
int hush__campaign_create(hush_collector *h, const json_t *spec, json_t **out,
                          hush__fail *f);
/* Builds and installs a campaign from a stored publication (at start). */
int hush__campaign_install(hush_collector *h, const char *id, const char *name,
                           int64_t created_at, const char *spec, hush__round *round,
                           hush_err *err);
void hush__campaign_free(hush__campaign *c);
/* The campaign list's JSON (all, or the active ones) at `now`, and the
 * time the list next changes by a scheduled end (new, free). */
char *hush__campaigns_list_json(hush_collector *h, bool all, int64_t now,
                                int64_t *valid_until);
int hush__campaigns_list_rebuild(hush_collector *h);
/* estimates.c: the estimates of round `round` (0: the open round), its top
 * `top` items (0: 100, or every candidate if fewer), as JSON text (*body
 * new; hush_free), and the state of the aggregate they were computed at:
 * the round's number and its aggregate's version (HUSH__EST_FROZEN for a
 * closed round, whose estimates were frozen when it closed). */
#define HUSH__EST_FROZEN UINT64_MAX
typedef struct hush__est_state {
    uint32_t round;
    uint64_t version;
} hush__est_state;
int hush__estimates(hush_collector *h, hush__campaign *c, uint64_t round, uint64_t top,
                    char **body, size_t *len, hush__est_state *state, hush__fail *f);
/* The state round `round` (0: the open round) stands at now, without
 * computing anything: estimates change only when it does (round 0: a
 * round not open yet). */
void hush__estimates_state(hush_collector *h, hush__campaign *c, uint64_t round,
                           hush__est_state *state);
/* The n items ranked by estimate, highest first, ties by index; item i
 * is ranked by est[by[i]] (by NULL: est[i]).  New array, or NULL. */
uint32_t *hush__rank(const hush_ldp_estimate *est, const uint32_t *by, uint32_t n);
json_t *hush__estimates_doc(const char *campaign, const hush__round *r, uint64_t n,
                            const hush_ldp_estimate *est, uint64_t top);
int hush__demo_campaign(hush_collector *h, hush_err *err);

/* generate.c: variations of the kept samples (docs/generators.md) */
typedef struct hush__parent {
    const char *id;
    const char *text;
    double estimate, std_error; /* the votes it got */
    size_t children;            /* how many variations it gets; 0 = the generator's
                                   choice (retrieval honours it) */
} hush__parent;
void hush__texts_free(char **texts, size_t n);
/* Up to `want` new distinct texts (fewer if the parents do not allow as
 * many), deterministic under the seed.  *out is new (hush__texts_free). */
int hush__generate_builtin(const hush__parent *parents, size_t n, size_t want,
                           uint64_t seed, const char *const *corpus, size_t n_corpus,
                           size_t max_bytes, char ***out, size_t *n_out, hush_err *err);
/* The same, with each new text's parent (an index into parents) written to
 * parent_of[i] (room for `want`; NULL: not wanted). */
int hush__generate_builtin_lineage(const hush__parent *parents, size_t n, size_t want,
                                   uint64_t seed, const char *const *corpus,
                                   size_t n_corpus, size_t max_bytes, char ***out,
                                   size_t *n_out, size_t *parent_of, hush_err *err);
/* Runs `cmd` (/bin/sh -c) with the parents as JSON lines on stdin; reads
 * 1 to `want` JSON lines {"text"} from stdout.  HUSH_EIO (exit status,
 * signal, time limit), HUSH_ETOOBIG (output cap), HUSH_EINVAL (bad line). */
int hush__generate_external(const char *cmd, unsigned timeout_s, size_t max_output,
                            const hush__parent *parents, size_t n, size_t want,
                            const char *campaign, uint32_t round, uint64_t seed,
                            size_t max_bytes, char ***out, size_t *n_out, hush_err *err);
int hush__generate_external_lineage(const char *cmd, unsigned timeout_s,
                                    size_t max_output, const hush__parent *parents,
                                    size_t n, size_t want, const char *campaign,
                                    uint32_t round, uint64_t seed, size_t max_bytes,
                                    char ***out, size_t *n_out, size_t *parent_of,
                                    hush_err *err);

/* substitute.c: word substitution by word-vector neighbours. */
#define HUSH__SUB_FIRST 100   /* words of lower rank are never replaced */
#define HUSH__SUB_LIMIT 30000 /* replacements come from ranks below this */
#define HUSH__SUB_K 8         /* replacements drawn among this many neighbours */
#define HUSH__SUB_SHARE 0.15  /* the default share of content words replaced */
typedef struct hush__subst_cache {
    const hush_wordvec *w;
    uint32_t *lists; /* words x HUSH__SUB_K neighbours */
    uint8_t *count;  /* per word: how many, 0xff = not computed */
} hush__subst_cache;
int hush__subst_cache_init(hush__subst_cache *c, const hush_wordvec *w);
void hush__subst_cache_free(hush__subst_cache *c);
/* Replaces each eligible content word with probability `share` by one of
 * its neighbours; whitespace and the word count are kept.  *out is new
 * (hush_free); *n_changed counts the words replaced. */
int hush__substitute(const char *text, double share, hush__subst_cache *c, hush_rng *rng,
                     char **out, size_t *n_changed, hush_err *err);

/* retrieve.c: up to `want` texts of the public corpus (documents,
 * paragraphs, sentences), each one of the m most similar (m = 16, 8, 4, 2
 * by round) unused units to a parent, parents in turn, words within [1/2,
 * 3/2] of the parent's; never a text of `population` or of the parents.
 * With a SIF table `wv` and substitute > 0, each drawn text then has that
 * share of its content words replaced by neighbours (hush__substitute).
 * *out is new (hush__texts_free); parent_of (room for `want`, or NULL)
 * gets each text's parent index. */
int hush__generate_retrieval(const hush__parent *parents, size_t n, size_t want,
                             uint32_t round, uint64_t seed, const char *const *corpus,
                             size_t n_corpus, const char *const *population,
                             size_t n_population, const hush_embedder *e,
                             const hush_wordvec *wv, double substitute, size_t max_bytes,
                             char ***out, size_t *n_out, size_t *parent_of,
                             hush_err *err);

/* What an external generator printed: 1 to `want` JSON lines {"text"},
 * validated; repeats (of parents or earlier lines) skipped. */
int hush__generator_output_parse(const char *text, size_t len, size_t want,
                                 size_t max_bytes, const hush__parent *parents,
                                 size_t n_parents, char ***out, size_t *n_out,
                                 hush_err *err);
/* The same, and each text's "parent" (the id of a kept sample, optional;
 * one naming no kept sample is an error) as an index into parents in
 * parent_of[i] (SIZE_MAX when the line names none; NULL: not wanted). */
int hush__generator_output_parse_lineage(const char *text, size_t len, size_t want,
                                         size_t max_bytes, const hush__parent *parents,
                                         size_t n_parents, char ***out, size_t *n_out,
                                         size_t *parent_of, hush_err *err);

/* models.c */
hush__task *hush__task_find(hush_collector *h, const char *id);
int hush__task_create(hush_collector *h, const json_t *spec, json_t **out, hush__fail *f);
int hush__task_update(hush_collector *h, hush__task *t, const char *body, size_t len,
                      json_t **out, hush__fail *f);
/* The signed publication: malloc'd body, *signature new (hush_free). */
char *hush__task_publication(hush__task *t, char **signature, size_t *len);
json_t *hush__task_privacy(hush__task *t);
json_t *hush__tasks_list(hush_collector *h);
/* POST /v1/models/{id}/rounds (admin): closes the open round now. */
int hush__task_close_now(hush_collector *h, hush__task *t, json_t **out, hush__fail *f);
/* Closes rounds whose deadline passed (the refiner thread). */
void hush__tasks_tick(hush_collector *h);
/* Secure aggregation (models_secagg.h): a device's stage document (session
 * NULL: its keys), and what it fetches (session and index NULL: the
 * attempt's status in *status, else its stage document in *body). */
int hush__task_secagg_post(hush_collector *h, hush__task *t, const char *session,
                           const char *token, const char *body, size_t len, json_t **out,
                           hush__fail *f);
int hush__task_secagg_get(hush_collector *h, hush__task *t, const char *session,
                          const char *index, char **body, json_t **status, hush__fail *f);
void hush__tasks_free(hush_collector *h);
/* The stored model tasks restored, each with its open round's updates. */
int hush__tasks_load(hush_collector *h, hush_err *err);
/* GET /v1/models/{id}/rounds: {"model", "rounds": [...]} */
/* external.c: runs cmd (/bin/sh -c) with `input` on stdin; its stdout
 * (new, NUL-terminated) if it exits 0 within timeout_s and max_output. */
int hush__external_run(const char *cmd, const char *input, size_t len, unsigned timeout_s,
                       size_t max_output, char **out, size_t *out_len, hush_err *err);
/* tokens.c: anonymous tokens (issuer keys by epoch, issuance, redemption) */
int hush__tokens_init(hush_collector *h, hush_err *err);
/* GET /v1/tokens/keys: the current and next epochs' keys (to be signed) */
int hush__tokens_keys(hush_collector *h, json_t **out, hush__fail *f);
/* POST /v1/tokens: {"attestation", "blinded": [...], "epoch"?} */
int hush__tokens_issue(hush_collector *h, const json_t *req, json_t **out, hush__fail *f);
/* A batch's tokens (NULL: none sent) for n_reports reports: each valid
 * and unspent, then all spent at once. */
int hush__tokens_redeem(hush_collector *h, const json_t *tokens, size_t n_reports,
                        const uint8_t *batch_id, hush__fail *f);
/* POST /v1/models/{id}/metrics: an evaluator's figures of a closed round
 * ({"round", "metrics"}; replaces earlier ones), stored with its history. */
int hush__task_round_metrics(hush_collector *h, hush__task *t, const json_t *doc,
                             json_t **out, hush__fail *f);
int hush__task_rounds(hush_collector *h, hush__task *t, json_t **out, hush__fail *f);

/* policy.c: the refinement policy. */
typedef struct hush__policy {
    int64_t keep; /* 0: DEFAULT_KEEP_SHARE of the population */
    double min_z;
    int64_t population; /* 0: the current number of candidates */
    bool external;
    bool retrieval;
    bool generator_set;  /* else: retrieval with a public corpus, builtin without */
    bool shuffled_votes; /* a control for measuring the loop: no signal */
    bool pe;             /* Private Evolution selection: no survivors, children
                            drawn in proportion to the thresholded votes */
    bool has_pe_threshold;
    double pe_threshold; /* PE: standard errors subtracted from each count */
    bool has_substitute;
    double substitute; /* retrieval: share of content words replaced */
    bool has_seed;
    uint64_t seed;
    int64_t auto_reports; /* automatic rounds (campaign spec only) */
    int64_t auto_seconds;
} hush__policy;
/* Checks a campaign spec's "refine" object. */
int hush__refine_check(const json_t *refine, hush__fail *f);
/* The policy a close uses: the spec's "refine", then the request's fields
 * (req may be NULL). */
int hush__policy_load(const hush__campaign *c, const json_t *req, hush__policy *p,
                      hush__fail *f);

/* rounds.c */
/* POST /v1/campaigns/{id}/rounds: closes the open round and publishes the
 * next; `req` (NULL: none) may name the round and a policy; *out is the
 * answer document. */
int hush__round_close(hush_collector *h, hush__campaign *c, const json_t *req,
                      json_t **out, hush__fail *f);
/* GET /v1/campaigns/{id}/rounds: the history (*body new). */
int hush__rounds_json(hush_collector *h, hush__campaign *c, char **body, size_t *len,
                      hush__fail *f);
/* The generator's public corpus (--generator-corpus). */
int hush__corpus_load(hush_collector *h, hush_err *err);
void hush__corpus_free(hush_collector *h);
/* The automatic rounds thread. */
int hush__refiner_start(hush_collector *h, hush_err *err);
void hush__refiner_stop(hush_collector *h);

/* ingest.c */
/* POST /v1/reports, as the domain sees it: the posted batch opened if
 * sealed, checked against its campaign's open round and decoded into a new
 * item (its campaign and round set, the round referenced); every refusal
 * is counted under its reason.  The caller sets item->answer and submits
 * it. */
int hush__batch_accept(hush_collector *h, const json_t *posted, hush__item **out,
                       hush__fail *f);
/* Queues an accepted item for counting and commit; item->answer runs when
 * it is done (item->status is then 200, 409, 500 or 503). */
void hush__batch_submit(hush_collector *h, hush__item *item);
int hush__writer_start(hush_collector *h, hush_err *err);
void hush__writer_stop(hush_collector *h);
/* Queues a large OLH/OUE batch for a counter thread, which counts it into
 * item->delta and then queues it for the writer (ingest.c). */
void hush__count_enqueue(hush_collector *h, hush__item *item);
int hush__counters_start(hush_collector *h, hush_err *err);
void hush__counters_stop(hush_collector *h);
void hush__enqueue(hush_collector *h, hush__item *item);
void hush__item_free(hush__item *item);

#endif
