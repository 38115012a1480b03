/*
 * hush_collector.h - hushd, the collector, as a library: configuration and
 * the server's life cycle.  main.c is a thin wrapper; tests start servers
 * in-process through the same calls.
 *
 * The collector publishes signed campaigns, ingests randomized report
 * batches durably (SQLite, group commit, answered only once committed),
 * keeps aggregates in memory (rebuilt at start from a checkpoint plus the
 * batches after it), and serves estimates.  It never sees raw device data,
 * stores no identifiers, and logs no client addresses.
 *
 * Ownership: hush_collector_start returns a new server, stopped and freed
 * by hush_collector_stop.  Thread safety: a configuration is a plain value;
 * the server's handle may be used from any one thread at a time (its
 * internal threads are its own).
 */
#ifndef HUSH_COLLECTOR_H
#define HUSH_COLLECTOR_H

#include "hush_common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HUSH_PATH_MAX 1024

typedef struct hush_collector_config {
    char listen[64];             /* address to bind, default 127.0.0.1 */
    uint16_t port;               /* default 8080; 0 = any free port */
    char store[HUSH_PATH_MAX];   /* "sqlite:PATH" (default sqlite:./var/hush.db) or
                                    a PostgreSQL URI "postgres://..." */
    char key_dir[HUSH_PATH_MAX]; /* default ./var/keys */
    char admin_token_file[HUSH_PATH_MAX]; /* default ./var/admin-token */
    char access_log[HUSH_PATH_MAX];       /* "-" stderr (default), "" off, or a file */
    size_t max_body_bytes;                /* default 4 MiB; larger bodies get 413 */
    unsigned connection_limit;            /* default 4096 */
    unsigned connection_timeout_s;        /* default 30: idle time */
    unsigned request_timeout_s;           /* default 30: a request's whole head
                                             and body, however it trickles */
    unsigned connections_per_client; /* default 1024 (a quarter of the connection limit):
                                        one address cannot take every slot; 0 = no cap */
    unsigned threads;                /* HTTP threads; 0 = one per core */
    bool sync_full;                  /* SQLite synchronous=FULL (default) or NORMAL */
    /* several nodes on one PostgreSQL store: this node's id (stable across
     * restarts, unique among the nodes; default: the host name) and how
     * often it reads what the others changed (default 1 s) */
    char node_id[64];
    unsigned poll_interval_s;
    unsigned checkpoint_interval_s;  /* default 30 */
    unsigned max_batches_per_commit; /* default 4096 */
    bool estimates_admin_only;       /* default false: estimates are public */
    bool demo;                       /* create a demo campaign if none exists */
    bool ui_off;                     /* --ui off: no dashboard at /ui/ (default on) */
    /* anonymous tokens: how devices prove they are legitimate installs
     * ("" = no issuance; "hmac:FILE" a shared secret with the attester;
     * "cmd:COMMAND" the operator's check), the key epoch's length and
     * the tokens one attestation may get a day */
    char token_attestation[HUSH_PATH_MAX];
    unsigned token_epoch_hours; /* default 168 */
    unsigned tokens_per_day;    /* default 16 */
    /* origins other dashboards may read the public GET routes from
     * (Access-Control-Allow-Origin): comma-separated "scheme://host[:port]",
     * or "*"; "" (the default) allows none */
    char cors_origin[512];
    /* refinement: an external generator command (run with /bin/sh -c; ""
     * = none, only the built-in generator), its time limit and output cap,
     * and a public corpus (JSON lines {"text": ...} or plain lines) the
     * built-in generator draws words and phrases from */
    char generator_cmd[HUSH_PATH_MAX];
    unsigned generator_timeout_s; /* default 60 */
    size_t generator_max_bytes;   /* default 16 MiB */
    char generator_corpus[HUSH_PATH_MAX];
    /* a word-vector file (a SIF table, hush-embed sif-table;
     * scripts/fetch-wordvec) for campaigns and tasks whose embedder names
     * it, and for the retrieval generator's word substitution ("" = none) */
    char word_vectors[HUSH_PATH_MAX];
    /* Tests and benchmarks only: draw the central DP noise of federated
     * rounds from a stream seeded by this number (with the task id and the
     * round), so that a run can be replayed.  Noise an operator can
     * predict protects nobody: hushd warns at start when it is set. */
    bool has_test_noise_seed;
    uint64_t test_noise_seed;
} hush_collector_config;

/**
 * Checks a configuration without starting anything (hushd --check-config):
 * the listen address parses, the store's and keys' directories exist or can
 * be made, the generator corpus and the word vectors can be read, the admin
 * token file (if there) holds a token.  Returns 0, or an error naming the
 * setting.
 */
HUSH_API int hush_collector_config_check(const hush_collector_config *c,
                                         hush_err *err) HUSH_WARN_UNUSED;

/** Fills in every default. */
HUSH_API void hush_collector_config_defaults(hush_collector_config *c);

/**
 * Applies command-line flags (--listen, --port, --store, --key-dir,
 * --admin-token-file, --access-log, --max-body-bytes, --connection-limit,
 * --connection-timeout, --request-timeout, --connections-per-client, --threads, --sync,
 * --checkpoint-interval,
 * --max-batches-per-commit, --estimates, --demo, --generator-cmd,
 * --generator-timeout, --generator-max-bytes, --generator-corpus,
 * --word-vectors,
 * --test-noise-seed, --config FILE).  A config
 * file holds the same settings as "name = value" lines ('#' comments);
 * flags given after --config override it.  Returns 0, or HUSH_EINVAL/
 * HUSH_ERANGE/HUSH_EIO with a message naming the flag or line.
 * *help is set when --help was given.
 */
HUSH_API int hush_collector_config_args(hush_collector_config *c, int argc, char **argv,
                                        bool *help, hush_err *err) HUSH_WARN_UNUSED;

/** Applies one "name = value" setting (what a config file line holds). */
HUSH_API int hush_collector_config_set(hush_collector_config *c, const char *name,
                                       const char *value, hush_err *err) HUSH_WARN_UNUSED;

/** The usage text for hushd (static string). */
HUSH_API const char *hush_collector_usage(void);

typedef struct hush_collector hush_collector;

/**
 * Opens the store (creating it and its directory), loads or creates the
 * keys and the admin token, rebuilds the aggregates, and starts serving.
 * *out is new.  Returns 0 or an error with a message.
 */
HUSH_API int hush_collector_start(const hush_collector_config *c, hush_collector **out,
                                  hush_err *err) HUSH_WARN_UNUSED;

/** The port actually bound (useful with port 0). */
HUSH_API uint16_t hush_collector_port(const hush_collector *h);

/**
 * Graceful stop: stops accepting, lets in-flight requests finish (their
 * batches are committed and answered), checkpoints the aggregates, closes
 * the store, frees everything.  NULL does nothing.
 */
HUSH_API void hush_collector_stop(hush_collector *h);

/**
 * What hushd does on SIGHUP: reopens the access log file (after logrotate
 * moved it) and re-reads the admin token file (a rotated token takes effect
 * at once).  What it cannot re-read while serving -- the listen address,
 * the store, the keys, the corpus and word vectors -- needs a restart.  On
 * an error the previous log and token stay in use.  Thread-safe.
 */
HUSH_API int hush_collector_reload(hush_collector *h, hush_err *err) HUSH_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif /* HUSH_COLLECTOR_H */
