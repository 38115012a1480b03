/*
 * device_internal.h - what the files of device/ share: the agent, the
 * campaign handle, and the budget ledger.
 */
#ifndef HUSH_DEVICE_INTERNAL_H
#define HUSH_DEVICE_INTERNAL_H

#include "hush_device.h"
#include "hush_embed.h"
#include "hush_learning.h"
#include "hush_privacy.h"
#include "hush_protocol.h"
#include "hush_token.h"

#define HUSH__STATE_PATH_MAX 1024
/* ledger keys: a campaign id, or "model/" and a model id */
#define HUSH__LEDGER_KEY_MAX 80
/* round records kept for good: bounded so the ledger stays far below the
 * 1 MiB it is read with (a record is under 100 bytes) */
#define HUSH__LEDGER_ROUNDS_MAX 4096
/* the device secret: keys the participation coin of federated rounds */
#define HUSH__SECRET_BYTES 32

typedef struct hush__ledger_entry {
    char campaign[HUSH__LEDGER_KEY_MAX + 1];
    double epsilon;
    uint32_t reports;
} hush__ledger_entry;

/* What the device remembers of a campaign's or a model task's rounds, for
 * good (not only today): the highest round it accepted (so an older,
 * replayed publication is refused) and the last round it sent something
 * for (so a model task gets at most one update per round). */
typedef struct hush__ledger_round {
    char key[HUSH__LEDGER_KEY_MAX + 1];
    uint32_t seen;
    uint32_t sent;
    uint32_t count; /* rounds it sent for: a secure-aggregation task's participations */
} hush__ledger_round;

/* Today's spending: per campaign and for the whole device.  Days are UTC
 * (seconds / 86400); a clock that goes back keeps the later day's counts. */
typedef struct hush__ledger {
    char path[HUSH__STATE_PATH_MAX];
    char tmp[HUSH__STATE_PATH_MAX];
    char dir[HUSH__STATE_PATH_MAX];
    int64_t day;
    double device_epsilon;
    uint32_t device_reports;
    hush__ledger_entry *entries;
    size_t n, cap;
    hush__ledger_round *rounds;
    size_t n_rounds, cap_rounds;
    unsigned version; /* of the file read (1 had no round records) */
    int lock_fd;      /* the state directory's lock file, -1 when closed */
    bool locked;
} hush__ledger;

/* Opens (or creates) the ledger of `dir` under the directory's lock; also
 * loads (or creates, on first use) the device secret into `secret`; `rng`
 * draws a new secret. */
int hush__ledger_open(hush__ledger *l, const char *dir, int64_t now, hush_rng *rng,
                      uint8_t secret[HUSH__SECRET_BYTES], hush_err *err);
void hush__ledger_dispose(hush__ledger *l);
/* Takes the state directory's lock (an exclusive flock, which other
 * processes and other agents on the same directory respect) and reloads the
 * ledger from disk, so every decision made under it sees every charge made
 * by anyone.  Every check-then-charge sequence runs between lock and
 * unlock.  Returns 0, HUSH_EIO or HUSH_ECORRUPT (then not locked). */
int hush__ledger_lock(hush__ledger *l, int64_t now, hush_err *err);
void hush__ledger_unlock(hush__ledger *l);
/* The round record of `key`, or NULL. */
const hush__ledger_round *hush__ledger_round_find(const hush__ledger *l, const char *key);
/* Records, in memory, `seen` (raised only) and `sent` (if not 0) for `key`;
 * true if anything changed.  HUSH_ENOMEM, or HUSH_ETOOBIG past
 * HUSH__LEDGER_ROUNDS_MAX records, leaves the ledger unchanged. */
int hush__ledger_note_round(hush__ledger *l, const char *key, uint32_t seen,
                            uint32_t sent, bool *changed);
/* Writes the ledger as it is in memory (atomically). */
int hush__ledger_save(hush__ledger *l, hush_err *err);
/* Moves to the day of `now` (resetting the counts) if it is a later day. */
void hush__ledger_roll(hush__ledger *l, int64_t now);
const hush__ledger_entry *hush__ledger_find(const hush__ledger *l, const char *campaign);
/* The file format (ledger.c): render returns a new buffer (hush_free) of
 * *len bytes; parse reads a NUL-terminated text of `len` bytes (modifying
 * it) into a zeroed ledger: 0 or HUSH_ECORRUPT/HUSH_ENOMEM. */
char *hush__ledger_render(const hush__ledger *l, size_t *len);
int hush__ledger_parse(hush__ledger *l, char *text, size_t len, hush_err *err);
/* Adds the spending (and, if round_sent != 0, records that an update or
 * batch was sent for that round of `campaign`) and writes the ledger
 * atomically.  Call it under the lock; on failure the ledger in memory is
 * re-read from the file, which the failed write left unchanged. */
int hush__ledger_charge(hush__ledger *l, const char *campaign, double epsilon,
                        uint32_t reports, uint32_t round_sent, hush_err *err);

struct hush_campaign {
    hush_publication *pub;
    hush_ldp *mech;
    hush_embedder *embedder; /* synthetic only */
};

/* Writes a file atomically: tmp, fsync, rename over path, fsync dir. */
int hush__write_atomic(const char *dir, const char *path, const char *tmp,
                       const void *data, size_t len, hush_err *err);

/* A labelled local example (federated learning). */
typedef struct hush__example {
    char *text;
    size_t len;
    uint32_t label;
} hush__example;

struct hush_fl_model {
    hush_model_pub *pub;
    hush_embedder *embedder;
};

#define HUSH__MAX_KEYS 64

struct hush_agent {
    hush_agent_config cfg;
    /* the collector keys it trusts: the pinned one first (keys.c) */
    uint8_t keys[HUSH__MAX_KEYS][32];
    size_t n_keys;
    char state_dir[HUSH__STATE_PATH_MAX];
    hush_rng *rng;
    hush__ledger ledger;
    uint8_t secret[HUSH__SECRET_BYTES]; /* never leaves the device */
    char **samples;
    size_t *sample_len;
    size_t n_samples;
    uint64_t seen; /* texts offered to the reservoir */
    hush__example *examples;
    size_t n_examples;
    uint64_t examples_seen;
    /* an anonymous-token request waiting for its answer (tokens.c) */
    struct hush__token_pending *pending;
    /* Ditto's pull this device chose by validation (learn.c), in memory:
     * for task `task`, at round `round`, with `examples` examples */
    struct {
        char task[HUSH_MODEL_ID_MAX + 1];
        uint32_t round;
        size_t examples;
        double lambda;
    } ditto;
};

int64_t hush__agent_now(const hush_agent *a);
/* tokens.c: the wallet (under the ledger's lock: *_locked) and parsers of
 * what comes from outside (fuzzed) */
void hush__tokens_pending_free(hush_agent *a);
int hush__wallet_count_locked(hush_agent *a, uint32_t *n, hush_err *err);
/* takes n tokens out of the wallet (saved without them) into out */
int hush__wallet_take_locked(hush_agent *a, uint32_t n, hush_token *out, hush_err *err);
int hush__wallet_parse(const char *text, size_t len, void **out, size_t *n,
                       hush_err *err);
int hush__token_response_parse(const char *body, size_t len, uint64_t epoch,
                               const uint8_t pk[32], uint32_t n, uint8_t *evaluated,
                               uint8_t proof[64], hush_err *err);
/* secagg.c: a secure-aggregation session for task publication `pub`
 * (ledger key `key`, `eps` charged per participation) with the encoded
 * input (pub->sa.plan.padded values; taken, wiped and freed either way). */
int hush__fl_secagg_new(hush_agent *a, const hush_model_pub *pub, const char *key,
                        double eps, uint32_t *input, hush_fl_secagg **out, hush_err *err);
/* keys.c: loads the followed keys; verifies a publication against every
 * trusted key. */
int hush__trusted_keys_load(hush_agent *a, hush_err *err);
int hush__verify_trusted(const hush_agent *a, const char *body, size_t len,
                         const char *signature, hush_err *err);
/* The participation coin of (device, task, round) at rate q (learn.c). */
bool hush__participates(const hush_agent *a, const char *task, uint32_t round, double q);
/* Under the ledger lock: refuses (HUSH_ESTALE) a `round` older than the
 * highest accepted for `key`, and records it as seen (saving the ledger if
 * that changed anything).  `what` names the document in the message. */
int hush__check_round(hush_agent *a, const char *key, const char *what, uint32_t round,
                      hush_err *err);

#endif
