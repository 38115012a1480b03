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

#define HUSH__STATE_PATH_MAX 1024
/* ledger keys: a campaign id, or "model/" and a model id */
#define HUSH__LEDGER_KEY_MAX 80

typedef struct hush__ledger_entry {
    char campaign[HUSH__LEDGER_KEY_MAX + 1];
    double epsilon;
    uint32_t reports;
} hush__ledger_entry;

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
} hush__ledger;

int hush__ledger_open(hush__ledger *l, const char *dir, int64_t now, hush_err *err);
void hush__ledger_dispose(hush__ledger *l);
/* Moves to the day of `now` (resetting the counts) if it is a later day. */
void hush__ledger_roll(hush__ledger *l, int64_t now);
const hush__ledger_entry *hush__ledger_find(const hush__ledger *l, const char *campaign);
/* Adds the spending and writes the ledger atomically; on failure the ledger
 * in memory is unchanged and HUSH_EIO is returned. */
/* The file format (ledger.c): render returns a new buffer (hush_free) of
 * *len bytes; parse reads a NUL-terminated text of `len` bytes (modifying
 * it) into a zeroed ledger: 0 or HUSH_ECORRUPT/HUSH_ENOMEM. */
char *hush__ledger_render(const hush__ledger *l, size_t *len);
int hush__ledger_parse(hush__ledger *l, char *text, size_t len, hush_err *err);
int hush__ledger_charge(hush__ledger *l, const char *campaign, double epsilon,
                        uint32_t reports, hush_err *err);

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

struct hush_agent {
    hush_agent_config cfg;
    char state_dir[HUSH__STATE_PATH_MAX];
    hush_rng *rng;
    hush__ledger ledger;
    char **samples;
    size_t *sample_len;
    size_t n_samples;
    uint64_t seen; /* texts offered to the reservoir */
    hush__example *examples;
    size_t n_examples;
    uint64_t examples_seen;
};

int64_t hush__agent_now(const hush_agent *a);

#endif
