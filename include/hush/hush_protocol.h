/*
 * hush_protocol.h - the wire formats the collector and the device agent must
 * agree on: mechanism parameters and reports in JSON, report batches, sealed
 * batches, and signed campaign publications.
 *
 * ARCHITECTURE.md keeps device/ and collector/ from including each other;
 * what both read and write lives here, next to the JSON Schemas in schemas/
 * that document it.  Everything is JSON (jansson) with binary payloads in
 * base64 (RFC 4648, padded).
 *
 * Ownership: functions returning json_t * return a new reference (the caller
 * json_decref()s it); json_t * arguments are borrowed.  `**out` buffers are
 * new and freed with hush_free.  Thread safety: all functions are
 * thread-safe (no shared state).
 */
#ifndef HUSH_PROTOCOL_H
#define HUSH_PROTOCOL_H

#include <jansson.h>

#include "hush_common.h"
#include "hush_embed.h"
#include "hush_learning.h"
#include "hush_privacy.h"
#include "hush_secagg.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HUSH_BATCH_ID_BYTES 16
#define HUSH_BATCH_MAX_REPORTS 10000
#define HUSH_CAMPAIGN_ID_MAX 64
#define HUSH_SIGNATURE_HEADER "Hush-Signature"
/* a secure-aggregation device's token (base64), on its stage documents */
#define HUSH_SECAGG_TOKEN_HEADER "Hush-Secagg-Token"

/* ---- mechanism parameters ---- */

/**
 * {"name":"grr","domain":…,"epsilon":…} plus "olh_g" for OLH and
 * "sketch_rows","sketch_cols","hash_seed" (a decimal string: 64-bit) for
 * the sketches.  New reference, or NULL when out of memory.
 */
HUSH_API json_t *hush_wire_params_to_json(const hush_ldp_params *p);

/**
 * json_dumps (same flags) with every real number written in the shortest
 * form that reads back to the same double: 0.1, not 0.10000000000000001;
 * integral reals keep a ".0".  What hush sends and stores.  The result is
 * malloc'd (free), NULL on failure.
 */
HUSH_API char *hush_json_dumps(const json_t *json, size_t flags);

/** Parses the object above; the result is validated by hush_ldp_new.
 * Returns 0 or HUSH_EINVAL/HUSH_ERANGE with a message. */
HUSH_API int hush_wire_params_from_json(const json_t *o, hush_ldp_params *out,
                                        hush_err *err) HUSH_WARN_UNUSED;

/* ---- reports ---- */

/*
 * One report in JSON, by mechanism (the binary layout is docs/privacy.md's):
 *   grr      the value, an integer
 *   hr       l * 2 + b, an integer
 *   olh      [seed, y], two integers
 *   hcms     [row, l * 2 + b], two integers
 *   oue      the d-bit vector, base64
 *   cms      [row, "base64 of the m-bit vector"]
 */

/** The JSON form of one binary report (new reference, NULL on ENOMEM). */
HUSH_API json_t *hush_wire_report_to_json(const hush_ldp *m, const uint8_t *report);

/** Decodes one JSON report into `report` (hush_ldp_report_size bytes) and
 * checks it against the mechanism.  Returns 0 or HUSH_EINVAL/HUSH_ERANGE. */
HUSH_API int hush_wire_report_from_json(const hush_ldp *m, const json_t *v,
                                        uint8_t *report, hush_err *err) HUSH_WARN_UNUSED;

/* ---- batches ---- */

/** The envelope of a batch: {campaign, round, batch_id, reports}. */
typedef struct hush_batch_header {
    char campaign[HUSH_CAMPAIGN_ID_MAX + 1];
    uint32_t round;
    uint8_t batch_id[HUSH_BATCH_ID_BYTES];
    const json_t *reports; /* borrowed from the parsed document */
    const json_t *tokens;  /* the same, or NULL: anonymous tokens (hush_token.h) */
} hush_batch_header;

/**
 * Reads the envelope of a parsed batch document.  Campaign ids are
 * [A-Za-z0-9_-]{1,64}; batch_id is 16 bytes of base64; reports is an array
 * of 1 .. HUSH_BATCH_MAX_REPORTS.  Returns 0 or HUSH_EINVAL with a message.
 */
HUSH_API int hush_batch_read_header(const json_t *doc, hush_batch_header *out,
                                    hush_err *err) HUSH_WARN_UNUSED;

/**
 * Decodes every report of a batch for mechanism `m` into a new buffer of
 * n * hush_ldp_report_size bytes (*out, hush_free).  All or nothing: on a
 * bad report, *bad_index names it and the message says what is wrong.
 */
HUSH_API int hush_batch_decode_reports(const hush_ldp *m, const json_t *reports,
                                       uint8_t **out, size_t *n, size_t *bad_index,
                                       hush_err *err) HUSH_WARN_UNUSED;

/**
 * Builds a batch document for `n` binary reports (new reference; the
 * caller serializes it).  `batch_id` is the device's random 16 bytes.
 */
HUSH_API json_t *hush_batch_build(const hush_ldp *m, const char *campaign, uint32_t round,
                                  const uint8_t batch_id[HUSH_BATCH_ID_BYTES],
                                  const uint8_t *reports, size_t n);

/* ---- sealing (crypto_box_seal to the collector's X25519 key) ---- */

/** {"sealed": base64(crypto_box_seal(msg))}: a new NUL-terminated string. */
HUSH_API int hush_seal(const uint8_t *msg, size_t len, const uint8_t public_key[32],
                       char **out, hush_err *err) HUSH_WARN_UNUSED;

/** Opens a sealed document's base64 payload with the collector's key pair.
 * *out is new (hush_free), *out_len its length.  Tampered or truncated
 * ciphertext returns HUSH_ESIGNATURE. */
HUSH_API int hush_unseal(const char *b64, size_t b64_len, const uint8_t public_key[32],
                         const uint8_t secret_key[32], uint8_t **out, size_t *out_len,
                         hush_err *err) HUSH_WARN_UNUSED;

/* ---- base64 ---- */

/** Base64 (original alphabet, padded) of `len` bytes: new, NUL-terminated. */
HUSH_API char *hush_b64_encode(const uint8_t *bin, size_t len);
/** Decodes into `out` (capacity `cap`); returns 0 and *out_len, or
 * HUSH_EINVAL for bad base64 or too much data. */
HUSH_API int hush_b64_decode(const char *b64, size_t len, uint8_t *out, size_t cap,
                             size_t *out_len) HUSH_WARN_UNUSED;

/* ---- campaign publications ---- */

typedef enum hush_campaign_kind {
    HUSH_CAMPAIGN_POLL = 1,      /* a fixed list of candidate strings */
    HUSH_CAMPAIGN_SYNTHETIC = 2, /* candidate texts matched by embedding */
} hush_campaign_kind;

/** The reserved "no match" candidate of synthetic campaigns: always the
 * last item of the domain, so a device never abstains. */
#define HUSH_NO_MATCH_ID "none"

/**
 * A parsed publication: what a device needs to take part in a round.  Made
 * by hush_publication_parse; freed with hush_publication_free.
 */
typedef struct hush_publication {
    char campaign[HUSH_CAMPAIGN_ID_MAX + 1];
    uint32_t round;
    hush_campaign_kind kind;
    hush_ldp_params params; /* domain = candidates (+1 for "none") */
    double match_threshold; /* synthetic only */
    uint32_t reports_per_device_per_day;
    double epsilon_per_device_per_day;
    uint64_t min_reports;
    size_t n_candidates; /* not counting "none" */
    /* n_candidates NUL-terminated strings each; both NULL in the device view
     * of a synthetic campaign (candidate_count and the matrix only), texts
     * also NULL for a synthetic campaign parsed with HUSH_PUBLICATION_DEVICE */
    char **candidate_ids;
    char **candidate_texts;
    char *embedder;      /* synthetic: the description, canonical JSON */
    hush_matrix *matrix; /* synthetic: int8, n_candidates x dim */
    bool has_sealing_key;
    bool require_tokens;     /* each report needs an anonymous token (hush_token.h) */
    uint8_t sealing_key[32]; /* the collector's X25519 key, signed with the rest */
} hush_publication;

/** Frees a publication.  NULL does nothing. */
HUSH_API void hush_publication_free(hush_publication *p);

/**
 * Parses and validates a publication body (before or after its signature
 * was checked; see hush_publication_verify).  Every field is checked: ids,
 * parameters (through hush_ldp_new), budget rules, candidates, and for
 * synthetic campaigns the embedder description and the matrix's shape.
 * *out is new.  Returns 0 or HUSH_EINVAL/HUSH_ERANGE/HUSH_ECORRUPT.
 */
HUSH_API int hush_publication_parse(const char *body, size_t len, hush_publication **out,
                                    hush_err *err) HUSH_WARN_UNUSED;

/** hush_publication_parse_flags: keep only what a device needs (the texts
 * of a synthetic campaign's candidates are not kept: devices match by
 * embedding). */
#define HUSH_PUBLICATION_DEVICE 1u

/* The largest publication body a device agent downloads (the curl
 * transport's response cap): the collector refuses a synthetic campaign
 * whose device view would be larger, since no device could take part. */
#define HUSH_PUBLICATION_DEVICE_MAX (16u << 20)

/** hush_publication_parse with flags (HUSH_PUBLICATION_*). */
HUSH_API int hush_publication_parse_flags(const char *body, size_t len, unsigned flags,
                                          hush_publication **out,
                                          hush_err *err) HUSH_WARN_UNUSED;

/**
 * Checks a publication's detached Ed25519 signature (base64, as sent in the
 * Hush-Signature header) against the pinned collector key.  Returns 0, or
 * HUSH_ESIGNATURE for a missing, malformed or wrong signature.
 */
HUSH_API int hush_publication_verify(const char *body, size_t len,
                                     const char *signature_b64,
                                     const uint8_t public_key[32],
                                     hush_err *err) HUSH_WARN_UNUSED;

/* ---- federated learning: model publications and updates ---- */

typedef enum hush_personalization {
    HUSH_PERSONAL_NONE = 0,
    HUSH_PERSONAL_FEDPER = 1, /* the output layer stays on the device */
    HUSH_PERSONAL_DITTO = 2   /* a personal model pulled toward the global one */
} hush_personalization;

#define HUSH_MODEL_ID_MAX HUSH_CAMPAIGN_ID_MAX

/**
 * A model publication (GET /v1/models/{id}, signed like a campaign): the
 * current global model and how devices train on it.  Made by
 * hush_model_pub_parse; freed with hush_model_pub_free.
 */
typedef struct hush_model_pub {
    char model[HUSH_MODEL_ID_MAX + 1];
    uint32_t round;
    hush_model *global;
    char *embedder;       /* description, canonical JSON */
    char **labels;        /* classes of them */
    double clip;          /* S: the update norm devices clip to */
    bool adaptive;        /* devices report whether they were clipped */
    double sampling_rate; /* q: each device takes part in a round with this probability */
    hush_train_options local; /* epochs, batch, lr (prox is set by the device) */
    hush_personalization personalization;
    double ditto_lambda; /* the pull toward the global model (the first candidate) */
    /* "ditto_lambda" as a list: each device picks its own from these by
     * validation on its own examples (Li et al. 2021 select lambda per
     * device the same way); one value: every device uses it */
    double ditto_lambdas[8];
    size_t n_ditto_lambdas;
    double local_noise; /* local DP noise multiplier; 0 = none */
    uint32_t updates_per_device_per_day;
    /* "state": "running" (or absent, as before tasks said it): the round
     * takes updates; "finished" or "budget_exhausted": the task takes no
     * more, and a device neither trains for it nor is charged (the
     * weights stay usable for prediction and personal training) */
    bool open;
    /* "upload": {"encoding": "lattice", "shift": s, "step": gamma}: send the
     * update as integers on the server's lattice (hush_lattice_quantize),
     * Rice-coded; absent or "float32": base64 float32 */
    struct {
        bool lattice;
        uint32_t shift;
        double step;
    } upload;
    /* "aggregation": "secagg": updates go through secure aggregation with
     * distributed DP; the plan below is the one the device computes itself
     * from the published inputs (and the published figures must agree) */
    bool secagg;
    struct {
        uint32_t min_devices;        /* the fewest survivors a released sum holds */
        uint32_t max_devices;        /* the most devices a round takes */
        uint32_t max_participations; /* a device takes part in at most this many */
        double dropout, dishonest;   /* what the parameters are chosen for */
        double noise_multiplier;     /* z: the sum's noise is z delta2 at min_devices */
        double delta;
        double stage_seconds;
        hush_ddg plan;
    } sa;
} hush_model_pub;

HUSH_API void hush_model_pub_free(hush_model_pub *p);

/** Parses and checks a model publication.  *out is new.  HUSH_EINVAL,
 * HUSH_ERANGE, HUSH_ECORRUPT (the weights) with a message. */
HUSH_API int hush_model_pub_parse(const char *body, size_t len, hush_model_pub **out,
                                  hush_err *err) HUSH_WARN_UNUSED;

/** How many floats an update carries: the body only under FedPer, else
 * every parameter. */
HUSH_API size_t hush_model_pub_update_size(const hush_model_pub *p);

/** An update: {"model", "round", "batch_id", "update" (base64 float32),
 * "unclipped"}.  A new string (hush_free), or NULL. */
HUSH_API char *hush_model_update_build(const char *model, uint32_t round,
                                       const uint8_t batch_id[HUSH_BATCH_ID_BYTES],
                                       const float *update, size_t n, bool unclipped);

/** The same update as lattice integers (hush_lattice_quantize at `shift`):
 * "encoding": "lattice", "shift", and "update" the Rice-coded integers
 * (hush_lattice_pack) in base64. */
HUSH_API char *hush_model_update_build_lattice(
    const char *model, uint32_t round, const uint8_t batch_id[HUSH_BATCH_ID_BYTES],
    const int32_t *k, size_t n, uint32_t shift, bool unclipped);

typedef struct hush_model_update {
    char model[HUSH_MODEL_ID_MAX + 1];
    uint32_t round;
    uint8_t batch_id[HUSH_BATCH_ID_BYTES];
    bool unclipped;
    float *update;    /* n floats, hush_free; NULL for lattice integers */
    int32_t *lattice; /* n integers, hush_free; NULL for floats */
    uint32_t shift;   /* the lattice integers' */
    size_t n;
} hush_model_update;

/** Parses an update of exactly `n` floats (finite) or lattice integers.
 * On success out->update or out->lattice is new (hush_free).  HUSH_EINVAL
 * / HUSH_ERANGE with a message. */
HUSH_API int hush_model_update_parse(const char *body, size_t len, size_t n,
                                     hush_model_update *out,
                                     hush_err *err) HUSH_WARN_UNUSED;

/* ---- secure aggregation: the stage documents ---- */

/*
 * Every message of a secure-aggregation round (hush_secagg.h) as one JSON
 * document, {"stage": ..., ...}, binary fields in base64:
 *   keys       {"enc_pk", "mask_pk", "sign_pk"}                 device -> collector
 *   list       {"params": {"n", "k", "t", "q", "bits", "length", "round"},
 *               "keys": [{"enc_pk", "mask_pk", "sign_pk"}, ...]}  collector -> device
 *   boxes      {"boxes": [{"from", "to", "box"}, ...]}            both ways
 *   masked     {"from", "y": base64 of length little-endian uint32,
 *               "commit": base64 of 32 bytes}
 *   survivors  {"survivors": [index, ...]}
 *   signature  {"from", "sig"}
 *   unmask     {"sigs": [{"from", "sig"}, ...], "dropped": [index, ...]}
 *   reveals    {"reveals": [{"from", "about", "kind": "self"|"key", "share"}, ...]}
 * The parser checks shapes and sizes only; the protocol's own checks (that
 * a box is for a neighbour, a list is ascending, ...) are the client's and
 * the server's.
 */
typedef enum hush_secagg_stage {
    HUSH_SECAGG_KEYS = 1,
    HUSH_SECAGG_LIST,
    HUSH_SECAGG_BOXES,
    HUSH_SECAGG_MASKED,
    HUSH_SECAGG_SURVIVORS,
    HUSH_SECAGG_SIGNATURE,
    HUSH_SECAGG_UNMASK,
    HUSH_SECAGG_REVEALS,
} hush_secagg_stage;

typedef struct hush_secagg_msg {
    hush_secagg_stage stage;
    uint32_t from;             /* masked, signature */
    hush_secagg_keys keys;     /* keys */
    hush_secagg_params params; /* list */
    hush_secagg_keys *list;    /* list: params.n entries */
    hush_secagg_box *boxes;    /* boxes */
    size_t n_boxes;
    uint32_t *y;                               /* masked: `length` values */
    uint8_t commit[HUSH_SECAGG_SESSION_BYTES]; /* masked: the self-mask commitment */
    uint32_t length;
    uint32_t *indices; /* survivors; unmask: the dropped */
    size_t n_indices;
    hush_secagg_sig *sigs; /* signature (one), unmask */
    size_t n_sigs;
    hush_secagg_reveal *reveals; /* reveals */
    size_t n_reveals;
} hush_secagg_msg;

/** Parses a stage document (HUSH_EINVAL with the reason; ENOMEM). */
HUSH_API int hush_secagg_msg_parse(const char *body, size_t len, hush_secagg_msg **out,
                                   hush_err *err) HUSH_WARN_UNUSED;
/** The document of a message (new text; NULL: out of memory). */
HUSH_API char *hush_secagg_msg_json(const hush_secagg_msg *m);
/** Frees a parsed message (NULL does nothing). */
HUSH_API void hush_secagg_msg_free(hush_secagg_msg *m);

#ifdef __cplusplus
}
#endif
#endif /* HUSH_PROTOCOL_H */
