/*
 * store.h - what hushd keeps durably, behind one small interface.
 *
 * The domain (campaigns, rounds, ingest, model tasks) talks to a store only
 * through these operations; a store hands back rows (plain values, text,
 * blobs) and never builds or touches a domain object: the domain builds
 * campaigns from campaign rows, adds batch rows into its aggregates, and
 * serializes what it wants kept.  SQLite (store_sqlite.c) is the first
 * implementation; a second (PostgreSQL) is one more file that fills the
 * same table.
 *
 * Contract every implementation keeps:
 *  - an operation is atomic: all of it is durable when it returns 0,
 *    none of it otherwise;
 *  - batches_commit stores each batch once (batch_id is unique: a replay is
 *    reported as a duplicate, not stored), only while its round is the
 *    campaign's open round in the store and the campaign has not ended
 *    (else it reports the batch closed), and gives each stored batch a row
 *    id larger than every earlier one of this node; an acknowledged batch is
 *    durable (fsynced) before the call returns;
 *  - batches_each yields this node's batches in row-id order;
 *  - several nodes (hushd processes) may share one store (PostgreSQL; an
 *    SQLite store has one): each has a node id, batches and checkpoints
 *    belong to the node that wrote them, a round close and an archive
 *    gather every other node's share (hush__gather) inside their
 *    transaction, with the campaign locked against every node's commits;
 *  - operations are thread-safe (the store serializes them itself);
 *  - failures are HUSH_EIO (the store cannot do it now), HUSH_EEXIST (a
 *    primary key taken), HUSH_ENOTFOUND (no such row), HUSH_ECORRUPT (the
 *    stored data contradicts itself) or HUSH_ENOMEM, with a message.
 */
#ifndef HUSH_COLLECTOR_STORE_H
#define HUSH_COLLECTOR_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "hush_common.h"
#include "hush_learning.h"
#include "hush_protocol.h"

typedef struct hush__store hush__store;

/* A campaign as stored, with its open round's publication. */
typedef struct hush__campaign_row {
    const char *id, *name;
    const char *spec; /* the creation request, canonical JSON */
    int64_t created_at;
    uint32_t round; /* the open round */
    const char *publication;
    size_t publication_len;
    const char *signature;
    int64_t opened_at;
    int64_t ended_at, archived_at; /* 0: not ended, not archived */
} hush__campaign_row;

/* A round being opened. */
typedef struct hush__round_row {
    uint32_t round;
    const char *publication;
    size_t publication_len;
    const char *signature;
    int64_t opened_at;
} hush__round_row;

/* What closing a round records about it. */
typedef struct hush__round_record {
    uint64_t n_reports;
    unsigned kept, generated;
    const char *timings;   /* JSON object */
    const char *metrics;   /* JSON object or NULL */
    const char *estimates; /* JSON document: every item */
    const char *policy;    /* JSON object: what the close used */
    const char *lineage;   /* JSON object: generated id -> parent id, or NULL */
} hush__round_record;

/* A report batch to commit. */
typedef struct hush__batch_row {
    const uint8_t *batch_id; /* HUSH_BATCH_ID_BYTES */
    const char *campaign;
    uint32_t round;
    uint64_t n;          /* reports */
    const void *reports; /* n fixed-size reports */
    size_t bytes;
    bool skip;      /* in: leave it out (its round closed while it waited) */
    bool duplicate; /* out: its batch_id was stored before */
    bool closed;    /* out: not stored: the store's open round of the campaign is
                       another, or the campaign has ended (another node closed
                       or ended it) */
} hush__batch_row;

/* What the other nodes hold of a campaign's open round, handed to a round
 * close or an archive inside its transaction, while no node can commit a
 * batch of that campaign: begin (at the start of every attempt: a retried
 * transaction visits again), each other node's checkpoint of the round
 * (state), each of its batches of the round after that checkpoint (batch),
 * then finish, which fills in what the operation stores (the round's record,
 * or the archive's final state). */
typedef struct hush__gather {
    void *ctx;
    int (*begin)(void *ctx, hush_err *err);
    int (*state)(void *ctx, const char *node, const void *state, size_t len,
                 hush_err *err);
    int (*batch)(void *ctx, const void *reports, size_t len, hush_err *err);
    int (*finish)(void *ctx, hush_err *err);
} hush__gather;

/* Another node's checkpoint of a round: its node id, state and when it was
 * saved (wall clock, seconds). */
typedef int (*hush__peer_fn)(void *ctx, const char *node, const void *state, size_t len,
                             int64_t saved_at, hush_err *err);

/* An aggregate's serialized state. */
typedef struct hush__state_row {
    const char *campaign;
    uint32_t round;
    const void *state;
    size_t len;
} hush__state_row;

/* What a compaction or an archive deleted. */
typedef struct hush__compaction {
    int64_t rounds, batches, reports;
    int64_t bytes;      /* the deleted rows' payload: reports, ids, keys */
    int64_t file_bytes; /* the store's size afterwards (compaction only) */
} hush__compaction;

/* A model task as stored. */
typedef struct hush__task_row {
    const char *id, *name, *spec;
    int64_t created_at;
    uint32_t round, done;
    int state;
    double clip;
    const void *params; /* the global model, serialized */
    size_t params_len;
    const float *opt; /* optimizer state (FedAdam moments), or NULL */
    size_t opt_n;
} hush__task_row;

/* What closing a model round records (epsilon NAN: no central privacy),
 * and what an evaluator later recorded of it (metrics: JSON text, or NULL;
 * read only: saving a round never writes it). */
typedef struct hush__model_round {
    uint32_t round, updates;
    double clip, epsilon, aggregate_ms;
    int64_t closed_at;
    const char *metrics;
} hush__model_round;

/* A round of a campaign's history: its record once closed (the JSON texts
 * may be NULL). */
typedef struct hush__round_history {
    uint32_t round;
    int64_t opened_at;
    bool closed;
    int64_t closed_at, n_reports, kept, generated;
    const char *timings, *metrics, *policy, *lineage;
} hush__round_history;

/* Row visitors: a non-zero return stops the walk and is returned. */
typedef int (*hush__campaign_fn)(void *ctx, const hush__campaign_row *row, hush_err *err);
typedef int (*hush__batch_fn)(void *ctx, int64_t rowid, const char *campaign,
                              uint32_t round, const void *reports, size_t len,
                              hush_err *err);
typedef int (*hush__task_fn)(void *ctx, const hush__task_row *row, hush_err *err);
typedef int (*hush__update_fn)(void *ctx, const void *update, size_t len, bool unclipped,
                               hush_err *err);
typedef int (*hush__round_fn)(void *ctx, const hush__round_history *row, hush_err *err);
typedef int (*hush__model_round_fn)(void *ctx, const hush__model_round *row,
                                    hush_err *err);

typedef struct hush__store_ops {
    const char *kind; /* "sqlite" */
    void (*close)(hush__store *s);
    /* whether a write could start now, without waiting */
    int (*probe)(hush__store *s, hush_err *err);

    int (*campaign_save)(hush__store *s, const hush__campaign_row *c, hush_err *err);
    int (*campaigns_each)(hush__store *s, hush__campaign_fn fn, void *ctx, hush_err *err);
    int (*campaign_end)(hush__store *s, const char *id, int64_t when, hush_err *err);
    /* the open round's final state (*final, filled in by g->finish after
     * every other node's share is gathered) kept as this node's checkpoint,
     * the other nodes' checkpoints of the campaign and every batch of it
     * deleted, the archive recorded: one transaction */
    int (*campaign_archive)(hush__store *s, const char *campaign, uint32_t round,
                            const hush__gather *g, const hush__state_row *final,
                            int64_t when, hush__compaction *out, hush_err *err);
    /* round `closing` closed with its record (*rec, filled in by g->finish
     * after every other node's share is gathered), `next` opened; HUSH_ESTATE
     * if `closing` is no longer the open round (another node closed it) */
    int (*round_close)(hush__store *s, const char *campaign, uint32_t closing,
                       const hush__gather *g, const hush__round_record *rec,
                       const hush__round_row *next, hush_err *err);
    int (*round_set_signature)(hush__store *s, const char *campaign, uint32_t round,
                               const char *signature, hush_err *err);
    /* every round of a campaign, oldest first */
    int (*rounds_each)(hush__store *s, const char *campaign, hush__round_fn fn, void *ctx,
                       hush_err *err);
    /* a closed round's frozen estimates (new text), or HUSH_ENOTFOUND */
    int (*round_estimates)(hush__store *s, const char *campaign, uint32_t round,
                           char **out, hush_err *err);

    /* stores the batches not skipped; *last_rowid: the largest row id now */
    int (*batches_commit)(hush__store *s, hush__batch_row *rows, size_t n,
                          int64_t *last_rowid, hush_err *err);
    /* this node's batches with row id > after, in row-id order; *max_rowid:
     * the largest row id of this node's */
    int (*batches_each)(hush__store *s, int64_t after, hush__batch_fn fn, void *ctx,
                        int64_t *max_rowid, hush_err *err);
    /* each row's state, as of this node's row id last_rowid, in one
     * transaction (saved_at: now) */
    int (*checkpoints_save)(hush__store *s, const hush__state_row *rows, size_t n,
                            int64_t last_rowid, hush_err *err);
    /* this node's checkpoint of a round (*state new), or HUSH_ENOTFOUND */
    int (*checkpoint_load)(hush__store *s, const char *campaign, uint32_t round,
                           void **state, size_t *len, int64_t *last_rowid, hush_err *err);
    /* the other nodes' checkpoints of a round (none in a one-node store) */
    int (*peers_each)(hush__store *s, const char *campaign, uint32_t round,
                      hush__peer_fn fn, void *ctx, hush_err *err);
    /* deletes the batches of closed rounds */
    int (*compact)(hush__store *s, hush__compaction *out, hush_err *err);

    int (*task_save)(hush__store *s, const hush__task_row *t, bool fresh,
                     const hush__model_round *closed, hush_err *err);
    /* this node's tasks (a model task is served by the node that made it) */
    int (*tasks_each)(hush__store *s, hush__task_fn fn, void *ctx, hush_err *err);
    int (*task_update)(hush__store *s, const char *id, const hush_model_update *u,
                       bool *duplicate, hush_err *err);
    int (*task_updates_each)(hush__store *s, const char *id, uint32_t round,
                             hush__update_fn fn, void *ctx, hush_err *err);
    /* a task's closed rounds, oldest first */
    int (*model_rounds_each)(hush__store *s, const char *id, hush__model_round_fn fn,
                             void *ctx, hush_err *err);
    /* anonymous tokens: counts n more tokens issued on `day` to the
     * attestation whose keyed hash is `who` (32 bytes), atomically, unless
     * that would pass `limit` (HUSH_EBUDGET, nothing counted) */
    int (*token_issue)(hush__store *s, int64_t day, const uint8_t *who, uint32_t n,
                       uint32_t limit, hush_err *err);
    /* records n tokens spent by a batch (ids: 32 bytes each, their key
     * epochs), all or none: HUSH_EEXIST (nothing recorded) when one was
     * spent before by another batch, on this node or any other; a token
     * spent before by this same batch (a resend) is fine */
    int (*tokens_spend)(hush__store *s, const uint8_t *ids, const uint64_t *epochs,
                        size_t n, const uint8_t *batch_id, hush_err *err);
    /* forgets spent tokens of epochs before `epoch` and issuance counts of
     * days before `day` (they can no longer be presented) */
    int (*tokens_expire)(hush__store *s, uint64_t epoch, int64_t day, hush_err *err);
    /* sets (replaces) a closed round's metrics (JSON text); HUSH_ENOTFOUND
     * when the task has no such closed round */
    int (*model_round_metrics)(hush__store *s, const char *id, uint32_t round,
                               const char *metrics, hush_err *err);
} hush__store_ops;

/* Every implementation's object starts with this. */
struct hush__store {
    const hush__store_ops *ops;
    bool ok;         /* the last batch commit worked (atomic; the domain sets it) */
    char error[256]; /* why it did not (the probe says it) */
    /* since the start (atomic): transactions retried after a serialization
     * failure or deadlock, connections re-established */
    uint64_t retries, reconnects;
};

/* The SQLite store at `path` (":memory:" for a private in-memory one, no
 * lock file): created if missing, migrated, flock'ed (one hushd per
 * store). */
int hush__store_sqlite_open(const char *path, bool sync_full, hush__store **out,
                            hush_err *err);
/* The PostgreSQL store at `conninfo` (a libpq URI or key=value string) for
 * node `node`: connected, its schema created or migrated under an advisory
 * lock, the node id held (a session advisory lock: HUSH_ESTATE if another
 * hushd holds it). */
int hush__store_pg_open(const char *conninfo, const char *node, hush__store **out,
                        hush_err *err);

#endif
