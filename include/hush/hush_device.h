/*
 * hush_device.h - libhush-device, the agent apps link to take part in hush
 * campaigns without ever sending their users' data.
 *
 * The agent holds a sample of the app's local data in memory (never on disk,
 * never on the wire), accepts campaign publications only when their Ed25519
 * signature verifies with the pinned collector key, and turns the local
 * sample into a batch of local-DP randomized reports, each charged to an
 * on-disk privacy budget ledger before the batch is handed out.
 *
 * Sans-I/O: the core never opens a socket.  It consumes response bodies
 * (publications) and produces request bodies (batches), so any networking
 * stack can carry them.  An optional libcurl transport, libhush-device-curl
 * (hush_transport.h), does the HTTP for apps that want it; the hush-agent
 * tool uses it.  libhush-device itself does not link libcurl.
 *
 * Ownership: _open/_new return objects freed by the matching _close/_free
 * (NULL accepted).  `char **out` results are new, NUL-terminated, and freed
 * with hush_free.  All other pointers are borrowed for the call only;
 * nothing keeps a pointer the caller passed.
 *
 * Thread safety: call hush_global_init() once before anything else.  An
 * agent is not thread-safe: use it from one thread at a time (calls on
 * different agents, with different state directories, may run in parallel).
 * A hush_campaign is immutable and may be shared by threads and agents.
 * Several agents, in one process or several (an app and its extension), may
 * share a state directory: every check-then-charge of the budget runs under
 * an exclusive lock of the directory with the ledger re-read from disk.
 *
 * Errors: functions return 0 or a negative HUSH_E* code (hush_common.h) and
 * fill an optional hush_err with a message.  HUSH_EBUDGET means the privacy
 * budget does not allow a report now; HUSH_ESIGNATURE that a publication is
 * not signed by the pinned key.
 */
#ifndef HUSH_DEVICE_H
#define HUSH_DEVICE_H

#include "hush_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* the same as HUSH_VERSION_STRING (the Makefile reads this line) */
#define HUSH_DEVICE_VERSION_STRING "0.1.0"

/** The library version ("major.minor.patch"), a static string. */
HUSH_API const char *hush_device_version(void);

typedef struct hush_agent hush_agent;
typedef struct hush_campaign hush_campaign;

typedef struct hush_agent_config {
    /* Directory for the budget ledger (and personal models of federated
     * learning tasks); created (mode 0700) if missing.  Required.  Nothing
     * else is ever written there. */
    const char *state_dir;
    /* The collector's Ed25519 signing key, pinned by the app (32 bytes, as
     * served by GET /v1/keys).  Required. */
    uint8_t collector_key[32];
    /* The app's device-wide policy, across all campaigns: the most epsilon
     * and the most reports per UTC day.  0 = no device-wide cap beyond each
     * campaign's own rules. */
    double max_epsilon_per_day;
    uint32_t max_reports_per_day;
    /* The in-memory local sample: capacity (0 = 200 texts, reservoir-sampled
     * beyond that; at most 100,000) and the longest text kept (0 = 64 KiB,
     * at most 16 MiB; longer ones are refused). */
    size_t max_samples;
    size_t max_sample_bytes;
    /* For tests and simulations only: a fixed clock (seconds since 1970;
     * NULL = the system clock) and a 32-byte seed for deterministic
     * randomness (NULL = the operating system's randomness, which is what
     * production must use). */
    int64_t (*clock)(void *ctx);
    void *clock_ctx;
    const uint8_t *rng_seed;
    /* The word-vector table the app ships (hush_wordvec_load; for "sif"
     * campaigns, the SIF table of scripts/fetch-wordvec, which the
     * campaign names by checksum).  NULL = none: campaigns whose embedder
     * needs one are refused with HUSH_EINVAL.  The agent takes its own
     * reference (hush_wordvec_ref); the app may free its own after open. */
    const struct hush_wordvec *word_vectors;
} hush_agent_config;

/**
 * Opens an agent: checks the configuration, creates the state directory and
 * an empty ledger on first use, or loads the ledger.  A ledger that is
 * corrupt, or missing from a directory that had one, fails closed with
 * HUSH_ECORRUPT: no reports until the app deals with it.  *out is new
 * (hush_agent_close).
 */
HUSH_API int hush_agent_open(const hush_agent_config *config, hush_agent **out,
                             hush_err *err) HUSH_WARN_UNUSED;

/** Closes an agent and wipes its local sample from memory.  NULL is fine. */
HUSH_API void hush_agent_close(hush_agent *agent);

/**
 * Adds one piece of local data (UTF-8 text, `len` bytes) to the in-memory
 * sample.  Beyond the capacity, reservoir sampling keeps a uniform random
 * subset of everything added.  The text is copied; it is never written to
 * disk.  Returns 0, HUSH_EINVAL (empty), HUSH_ETOOBIG or HUSH_ENOMEM.
 */
HUSH_API int hush_agent_add_sample(hush_agent *agent, const char *text, size_t len,
                                   hush_err *err) HUSH_WARN_UNUSED;

/** How many texts the sample holds. */
HUSH_API size_t hush_agent_sample_count(const hush_agent *agent);

/** Wipes the local sample. */
HUSH_API void hush_agent_clear_samples(hush_agent *agent);

/**
 * Accepts a campaign publication (the body of GET /v1/campaigns/{id};
 * devices should ask for ?view=device, which leaves out the texts of a
 * synthetic campaign's candidates) and its Hush-Signature header value:
 * verifies the signature with the pinned key, then parses and validates
 * every field, then checks that it is the document asked for: its id must be
 * `expected_id` (the id the app fetched), and its round must not be older
 * than the highest round of that campaign this state directory ever
 * accepted (kept in the ledger; a replayed old publication would spend
 * budget on votes the collector refuses).  Returns 0, HUSH_ESIGNATURE
 * (missing, malformed or wrong signature, or a tampered body),
 * HUSH_EMISMATCH (another campaign's publication), HUSH_ESTALE (an older
 * round), HUSH_EINVAL/HUSH_ERANGE/HUSH_ECORRUPT for a bad document, HUSH_EIO
 * when the ledger cannot be written.  *out is new (hush_campaign_free) and
 * independent of the agent.
 */
/**
 * Follows the collector's signing-key rotations: `keys_json` is the body of
 * GET /v1/keys, whose "continuity" list holds documents each naming an old
 * and a new key, signed by both.  Every document whose old key this agent
 * trusts (the pinned collector_key, or one followed before) and whose two
 * signatures hold makes the new key trusted too, kept in the state
 * directory (`trusted-keys`) for later runs.  A document with a bad
 * signature refuses the whole call (HUSH_ESIGNATURE) and nothing is
 * followed; one whose old key is not trusted is ignored.  *added says how
 * many keys were added.  Publications are then accepted if any trusted key
 * signed them.  Call it after fetching GET /v1/keys, e.g. when a
 * publication's signature fails.
 */
HUSH_API int hush_agent_follow_keys(hush_agent *agent, const char *keys_json, size_t len,
                                    size_t *added, hush_err *err) HUSH_WARN_UNUSED;

HUSH_API int hush_agent_accept_campaign(hush_agent *agent, const char *expected_id,
                                        const char *body, size_t len,
                                        const char *signature, hush_campaign **out,
                                        hush_err *err) HUSH_WARN_UNUSED;

/** Frees a campaign.  NULL does nothing. */
HUSH_API void hush_campaign_free(hush_campaign *campaign);
/** The campaign's id and round (borrowed / by value). */
HUSH_API const char *hush_campaign_id(const hush_campaign *campaign);
HUSH_API uint32_t hush_campaign_round(const hush_campaign *campaign);
/** True for a poll (a fixed list of candidates), false for a synthetic
 * campaign (candidates matched by embedding the local sample). */
HUSH_API bool hush_campaign_is_poll(const hush_campaign *campaign);
/** The epsilon one report spends. */
HUSH_API double hush_campaign_epsilon(const hush_campaign *campaign);

typedef struct hush_batch_options {
    /* Seal the batch to the collector's key from the (signed) publication,
     * so that relays see only ciphertext. */
    bool seal;
    /* At most this many reports; 0 = as many as the budget allows today,
     * up to the campaign's reports per device per day. */
    uint32_t max_reports;
} hush_batch_options;

/**
 * Makes a batch of randomized reports for a synthetic campaign: embeds the
 * local sample with the campaign's embedder, finds each text's nearest
 * candidate (or the reserved "none" below the campaign's threshold), draws
 * texts uniformly at random, randomizes their votes with the campaign's
 * mechanism, charges the ledger (written atomically: temporary file, fsync,
 * rename) and only then returns the batch JSON (sealed when asked).  A
 * crash after the charge loses the batch, never the charge.  Returns 0,
 * HUSH_EBUDGET (nothing may be reported now; the message says which rule),
 * HUSH_ESTATE (no local sample, or a poll campaign), HUSH_EIO (the ledger
 * could not be written: nothing is returned), HUSH_ENOMEM.
 */
HUSH_API int hush_agent_make_report_batch(hush_agent *agent,
                                          const hush_campaign *campaign,
                                          const hush_batch_options *options, char **out,
                                          size_t *out_len,
                                          hush_err *err) HUSH_WARN_UNUSED;

/**
 * The poll variant: the app gives the value itself (e.g. the prompt a user
 * typed).  The value is matched to a candidate by its text or its id; a
 * value outside the list is reported by its item key when the campaign uses
 * a sketch mechanism (CMS, HCMS), and refused with HUSH_ENOTFOUND
 * otherwise.  One report; budget and ledger as above.
 */
HUSH_API int hush_agent_make_poll_batch(hush_agent *agent, const hush_campaign *campaign,
                                        const char *value, size_t len,
                                        const hush_batch_options *options, char **out,
                                        size_t *out_len, hush_err *err) HUSH_WARN_UNUSED;

/**
 * How many reports the budget allows `campaign` right now (0 to the
 * campaign's reports per device per day), after every rule: the campaign's
 * reports and epsilon per device per day and the app's device-wide policy,
 * as the ledger on disk says now (another process may have spent).  *why
 * (optional) names the rule that binds, a static string.  Nothing is
 * charged.  Returns 0, or HUSH_ECORRUPT/HUSH_EIO when the ledger cannot be
 * read (then *n is 0: the agent fails closed).
 */
HUSH_API int hush_agent_reports_allowed(hush_agent *agent, const hush_campaign *campaign,
                                        uint32_t *n, const char **why) HUSH_WARN_UNUSED;

/**
 * What today's ledger says: epsilon and reports spent today by the campaign
 * (NULL: by the whole device).  Returns 0 or HUSH_ESTATE (a failed ledger).
 */
HUSH_API int hush_agent_spent_today(const hush_agent *agent, const char *campaign_id,
                                    double *epsilon, uint32_t *reports) HUSH_WARN_UNUSED;

/* ------------------------------------------------------------------------ */
/* Anonymous tokens                                                         */
/* ------------------------------------------------------------------------ */

/*
 * A campaign whose publication says "require_tokens" takes each report
 * only with an anonymous token (RFC 9576 style; hush_token.h).  The agent
 * keeps tokens in its state directory (`tokens`, never in the ledger) and
 * spends one per report when it makes a batch for such a campaign: the
 * tokens leave the wallet file before the batch leaves the library, so a
 * lost batch loses its tokens, never reuses them.  Getting tokens is
 * sans-I/O, two calls around one POST /v1/tokens.
 */

/**
 * Starts a request for n tokens: checks the keys document (the body and
 * Hush-Signature of GET /v1/tokens/keys) against the pinned collector key,
 * blinds n fresh token inputs for its current epoch and returns the body
 * to POST to /v1/tokens.  `attestation` is the JSON object the operator's
 * attester gave the app.  The blinds stay in the agent until the answer.
 */
HUSH_API int hush_agent_tokens_request(hush_agent *agent, const char *keys_body,
                                       size_t keys_len, const char *keys_signature,
                                       const char *attestation, uint32_t n, char **out,
                                       size_t *out_len, hush_err *err) HUSH_WARN_UNUSED;

/**
 * Takes the answer to the pending request: checks the issuer's proof
 * against the signed key (HUSH_ESIGNATURE: the issuer did not use the key
 * every device pins, e.g. to tag this one), unblinds and saves the tokens.
 * The pending request is over either way.
 */
HUSH_API int hush_agent_tokens_accept(hush_agent *agent, const char *body, size_t len,
                                      uint32_t *added, hush_err *err) HUSH_WARN_UNUSED;

/** Tokens held that the collector still takes. */
HUSH_API int hush_agent_tokens_count(hush_agent *agent, uint32_t *n,
                                     hush_err *err) HUSH_WARN_UNUSED;

/* ------------------------------------------------------------------------ */
/* Federated learning                                                       */
/* ------------------------------------------------------------------------ */

typedef struct hush_fl_model hush_fl_model;

/**
 * Adds a labelled local example (UTF-8 text and the index of its label in
 * the model's label list), kept in memory only, reservoir-sampled beyond
 * max_samples like the sample.  Returns 0, HUSH_EINVAL, HUSH_ETOOBIG,
 * HUSH_ENOMEM.
 */
HUSH_API int hush_agent_add_example(hush_agent *agent, const char *text, size_t len,
                                    uint32_t label, hush_err *err) HUSH_WARN_UNUSED;
HUSH_API size_t hush_agent_example_count(const hush_agent *agent);
/** Wipes the examples. */
HUSH_API void hush_agent_clear_examples(hush_agent *agent);

/**
 * Accepts a model publication (the body of GET /v1/models/{id} and its
 * Hush-Signature): the signature is checked with the pinned key, then every
 * field, then that the task is `expected_id` (HUSH_EMISMATCH otherwise) and
 * that the round is not older than one this state directory accepted
 * (HUSH_ESTALE).  *out is new (hush_fl_model_free), immutable, shareable.
 */
HUSH_API int hush_agent_accept_model(hush_agent *agent, const char *expected_id,
                                     const char *body, size_t len, const char *signature,
                                     hush_fl_model **out, hush_err *err) HUSH_WARN_UNUSED;
HUSH_API void hush_fl_model_free(hush_fl_model *model);
HUSH_API const char *hush_fl_model_id(const hush_fl_model *model);
HUSH_API uint32_t hush_fl_model_round(const hush_fl_model *model);
/** The model's class labels (borrowed) and their number. */
HUSH_API const char *const *hush_fl_model_labels(const hush_fl_model *model, size_t *n);

typedef struct hush_train_budget {
    double max_seconds;    /* the app's compute budget for local training; 0 = none */
    uint32_t max_steps;    /* minibatch steps; 0 = none */
    uint32_t max_examples; /* examples used; 0 = all */
    /* the app's memory budget for a round's training, in bytes (0 = none):
     * when the whole model's training does not fit and the model has a
     * body (an MLP), only its head is trained -- on the body's features of
     * the examples, computed once -- and the update is the head's change
     * (zeros elsewhere), clipped to the same norm: the privacy accounting
     * is unchanged (see hush_agent_train_round) */
    size_t max_memory_bytes;
} hush_train_budget;

/**
 * One participation in the model's open round, when the app allows it
 * (call it as often as you like: whenever the device is charging, idle and
 * on Wi-Fi).  Whether this device takes part in the round is decided once
 * per (device, task, round) with the publication's sampling probability q,
 * by a keyed function of a secret that never leaves the state directory:
 * every call in a round, across restarts and crashes, gets the same answer,
 * so the server's accounting (Poisson sampling at rate q) holds however
 * often the app calls.  A device in the sample trains on the local examples
 * within the budget, computes the update (local - global; under FedPer the
 * body only), clips it to the round's norm, adds local noise when the task
 * asks for local DP, charges the ledger ("model/<id>": one update, the
 * round it is for, and the local-DP epsilon if any) and only then returns
 * the update document; a second call in the same round gets HUSH_EBUDGET.
 * Personal parts (the FedPer head, the Ditto model) are saved in the state
 * directory and never leave the device.  Returns 0, HUSH_ENOTFOUND (not
 * sampled this round: nothing done, nothing charged), HUSH_EBUDGET,
 * HUSH_ESTALE (an older round than one accepted), HUSH_ESTATE (no
 * examples, or the publication says the task takes no more updates:
 * nothing done, nothing charged), HUSH_EIO, HUSH_ENOMEM.
 */
HUSH_API int hush_agent_train_round(hush_agent *agent, const hush_fl_model *model,
                                    const hush_train_budget *budget, char **out,
                                    size_t *out_len, hush_err *err) HUSH_WARN_UNUSED;

/* ---- secure aggregation with distributed DP ---- */

typedef struct hush_fl_secagg hush_fl_secagg;

/**
 * One participation in the open round of a task whose publication says
 * "aggregation": "secagg" (hush_agent_train_round refuses those with
 * HUSH_EUNSUPPORTED).  The same checks and training as
 * hush_agent_train_round, plus the task's cap on participations (a device
 * takes part in at most max_participations rounds of it, for good: the
 * accountant's figure counts on it); then the clipped update is encoded
 * for distributed DP (rotated, rounded onto the round's lattice, with this
 * device's share of the discrete Gaussian noise, the plan computed here
 * from the publication's inputs) and a secure-aggregation client made with
 * this device's policy: the round must tolerate the publication's
 * dishonest fraction, and a survivor list shorter than min_devices is
 * never signed.  Nothing is sent or charged yet: *out drives the protocol
 * (hush_fl_secagg_next / _handle, or hush_fl_secagg_run in the curl
 * library) and charges the ledger once, just before the masked update
 * leaves.  The agent must outlive *out, used by one thread at a time.
 * Returns as hush_agent_train_round; HUSH_EUNSUPPORTED for a plain task.
 */
HUSH_API int hush_agent_secagg_begin(hush_agent *agent, const hush_fl_model *model,
                                     const hush_train_budget *budget,
                                     hush_fl_secagg **out,
                                     hush_err *err) HUSH_WARN_UNUSED;
HUSH_API void hush_fl_secagg_free(hush_fl_secagg *s);

/** A request the protocol needs made (sans I/O: the app carries it). */
typedef struct hush_secagg_request {
    int post;         /* 1: POST the body; 0: GET */
    char path[192];   /* relative to the collector's base URL, with its query */
    const char *body; /* POST: the document (owned by the session) */
    size_t len;
    const char *token; /* the Hush-Secagg-Token header's value, or NULL */
    double wait;       /* seconds to wait before making it (the next stage) */
} hush_secagg_request;

enum {
    HUSH_FL_SECAGG_RUNNING = 0,
    HUSH_FL_SECAGG_DONE = 1,    /* its part done: the reveals were sent */
    HUSH_FL_SECAGG_ABORTED = 2, /* refused or left behind: see the message */
};

/** The next request to make (0), or HUSH_ESTATE when the session is over. */
HUSH_API int hush_fl_secagg_next(hush_fl_secagg *s, hush_secagg_request *req,
                                 hush_err *err) HUSH_WARN_UNUSED;
/**
 * The answer to the request next gave (HTTP status and body).  Returns 0
 * while the session goes on or is done; HUSH_ESTATE (with the reason)
 * when it aborted: the collector refused a document, the attempt ended
 * without this device, or a check of the protocol failed (a dishonest
 * collector).  Errors of the ledger (HUSH_EIO, HUSH_EBUDGET) abort too:
 * nothing leaves uncharged.
 */
HUSH_API int hush_fl_secagg_handle(hush_fl_secagg *s, long status, const char *body,
                                   size_t len, hush_err *err) HUSH_WARN_UNUSED;
/** HUSH_FL_SECAGG_RUNNING, _DONE or _ABORTED. */
HUSH_API int hush_fl_secagg_state(const hush_fl_secagg *s);

/**
 * Trains only the device's personal model of a personalized task (Ditto's
 * model, or the FedPer head on the current global body) on the local
 * examples and saves it in the state directory.  Nothing is sent or
 * charged and the sampling coin plays no part: call it whenever the app
 * allows local work, sampled or not.  Returns 0, HUSH_EUNSUPPORTED (the task
 * has no personal part), HUSH_ESTATE (no examples), HUSH_EIO, HUSH_ENOMEM.
 */
HUSH_API int hush_agent_train_personal(hush_agent *agent, const hush_fl_model *model,
                                       const hush_train_budget *budget,
                                       hush_err *err) HUSH_WARN_UNUSED;

/**
 * On-device prediction: class probabilities of a text (`probs` holds n >=
 * classes floats), from the personal model when the task personalizes and
 * the device has trained one, else from the global model.  Nothing is sent
 * or stored.  Returns 0, HUSH_EINVAL, HUSH_ENOMEM.
 */
HUSH_API int hush_agent_predict(hush_agent *agent, const hush_fl_model *model,
                                const char *text, size_t len, float *probs, size_t n,
                                hush_err *err) HUSH_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif /* HUSH_DEVICE_H */
