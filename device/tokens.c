/*
 * tokens.c - the device's anonymous tokens (hush_device.h, "Anonymous
 * tokens"): asking for them (blinded, with the app's attestation, against
 * the issuer key the collector signed), checking the issuer's proof and
 * keeping the tokens in a wallet file, and spending one per report of a
 * campaign that requires them.
 *
 * The wallet (state directory, `tokens`, mode 0600) is text, rewritten
 * atomically like the ledger, under the same lock:
 *   hush-tokens 1
 *   token <epoch> <valid until, seconds since 1970> <nonce hex> <authenticator hex>
 *   checksum <XXH3-64 of every byte before this line, 16 hex digits>
 * A damaged wallet fails closed: no token is spent from it (HUSH_ECORRUPT);
 * deleting it loses the tokens and nothing else.  Tokens are not budget:
 * the ledger never counts them.
 */
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "device_internal.h"
#include "hush_buf.h"
#include "hush_json.h"

#define WALLET_MAX 4096
#define LINE_MAX_BYTES 256

typedef struct wallet_token {
    uint64_t epoch;
    int64_t valid_until;
    uint8_t nonce[HUSH_TOKEN_NONCE_BYTES];
    uint8_t auth[HUSH_VOPRF_OUTPUT];
} wallet_token;

/* An issuance in flight: what the device must remember to finalize it. */
struct hush__token_pending {
    uint64_t epoch;
    int64_t valid_until;
    uint8_t pk[HUSH_VOPRF_ELEMENT];
    uint32_t n;
    uint8_t nonces[HUSH_VOPRF_BATCH_MAX][HUSH_TOKEN_NONCE_BYTES];
    uint8_t blinds[HUSH_VOPRF_BATCH_MAX * HUSH_VOPRF_SCALAR];
    uint8_t blinded[HUSH_VOPRF_BATCH_MAX * HUSH_VOPRF_ELEMENT];
};

void hush__tokens_pending_free(hush_agent *a)
{
    if (a->pending != NULL) {
        sodium_memzero(a->pending, sizeof *a->pending);
        hush_free(a->pending);
        a->pending = NULL;
    }
}

static void wallet_path(const hush_agent *a, char *path, size_t cap, const char *suffix)
{
    snprintf(path, cap, "%s/tokens%s", a->state_dir, suffix);
}

static int parse_line(const char *s, wallet_token *t)
{
    char nonce[2 * HUSH_TOKEN_NONCE_BYTES + 2], auth[2 * HUSH_VOPRF_OUTPUT + 2];
    unsigned long long epoch;
    long long until;
    int used = 0;
    if (sscanf(s, "token %llu %lld %65s %129s%n", &epoch, &until, nonce, auth, &used) !=
            4 ||
        s[used] != '\n' || strlen(nonce) != 2 * HUSH_TOKEN_NONCE_BYTES ||
        strlen(auth) != 2 * HUSH_VOPRF_OUTPUT ||
        sodium_hex2bin(t->nonce, sizeof t->nonce, nonce, strlen(nonce), NULL, NULL,
                       NULL) != 0 ||
        sodium_hex2bin(t->auth, sizeof t->auth, auth, strlen(auth), NULL, NULL, NULL) !=
            0) {
        return -1;
    }
    t->epoch = epoch;
    t->valid_until = until;
    return 0;
}

/* Parses a wallet's text: *out new (hush_free), *n its tokens. */
int hush__wallet_parse(const char *text, size_t len, void **out, size_t *n, hush_err *err)
{
    *out = NULL;
    *n = 0;
    static const char head[] = "hush-tokens 1\n";
    const char *sum = len >= 26 ? text + len - 26 : NULL;
    uint64_t want = 0;
    if (len < sizeof head - 1 + 26 || memcmp(text, head, sizeof head - 1) != 0 ||
        sscanf(sum, "checksum %16" SCNx64 "\n", &want) != 1 || sum[25] != '\n' ||
        XXH3_64bits(text, len - 26) != want) {
        return hush_err_set(err, HUSH_ECORRUPT,
                            "the token wallet is damaged (delete it to start over)");
    }
    size_t count = 0;
    for (const char *p = text + sizeof head - 1; p < sum; p = strchr(p, '\n') + 1) {
        count++;
    }
    wallet_token *w = count > 0 ? hush_calloc(count, sizeof *w) : NULL;
    if (count > WALLET_MAX || (count > 0 && w == NULL)) {
        hush_free(w);
        return hush_err_set(err, count > WALLET_MAX ? HUSH_ECORRUPT : HUSH_ENOMEM,
                            "the token wallet holds %zu lines", count);
    }
    size_t i = 0;
    for (const char *p = text + sizeof head - 1; p < sum; p = strchr(p, '\n') + 1, i++) {
        if (parse_line(p, &w[i]) != 0) {
            hush_free(w);
            return hush_err_set(err, HUSH_ECORRUPT,
                                "the token wallet's line %zu is damaged", i + 2);
        }
    }
    *out = w;
    *n = count;
    return 0;
}

static int wallet_load(const hush_agent *a, wallet_token **w, size_t *n, hush_err *err)
{
    char path[HUSH__STATE_PATH_MAX + 16];
    wallet_path(a, path, sizeof path, "");
    *w = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return errno == ENOENT ? 0
                               : hush_err_set(err, HUSH_EIO, "cannot read %s: %s", path,
                                              strerror(errno));
    }
    hush__buf b;
    hush__buf_init(&b, (size_t)WALLET_MAX * LINE_MAX_BYTES);
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        hush__buf_add(&b, chunk, got);
    }
    bool bad = ferror(f) != 0;
    fclose(f);
    int rc =
        bad || hush__buf_error(&b) != 0
            ? hush_err_set(err, HUSH_EIO, "cannot read %s", path)
            : hush__wallet_parse(b.data != NULL ? b.data : "", b.len, (void **)w, n, err);
    hush__buf_free(&b);
    return rc;
}

static int wallet_save(const hush_agent *a, const wallet_token *w, size_t n,
                       hush_err *err)
{
    hush__buf b;
    hush__buf_init(&b, (size_t)(n + 2) * LINE_MAX_BYTES);
    hush__buf_adds(&b, "hush-tokens 1\n");
    for (size_t i = 0; i < n; i++) {
        char nonce[2 * HUSH_TOKEN_NONCE_BYTES + 1], auth[2 * HUSH_VOPRF_OUTPUT + 1];
        sodium_bin2hex(nonce, sizeof nonce, w[i].nonce, sizeof w[i].nonce);
        sodium_bin2hex(auth, sizeof auth, w[i].auth, sizeof w[i].auth);
        hush__buf_addf(&b, "token %llu %lld %s %s\n", (unsigned long long)w[i].epoch,
                       (long long)w[i].valid_until, nonce, auth);
    }
    if (hush__buf_error(&b) == 0) {
        hush__buf_addf(&b, "checksum %016" PRIx64 "\n", XXH3_64bits(b.data, b.len));
    }
    if (hush__buf_error(&b) != 0) {
        hush__buf_free(&b);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory writing the token wallet");
    }
    char path[HUSH__STATE_PATH_MAX + 16], tmp[HUSH__STATE_PATH_MAX + 16];
    wallet_path(a, path, sizeof path, "");
    wallet_path(a, tmp, sizeof tmp, ".tmp");
    int rc = hush__write_atomic(a->state_dir, path, tmp, b.data, b.len, err);
    sodium_memzero(b.data, b.len);
    hush__buf_free(&b);
    return rc;
}

/* The signed keys document's current epoch, its key and how long its
 * tokens are taken. */
static int read_keys(const json_t *doc, uint64_t *epoch, uint8_t pk[32], int64_t *until,
                     hush_err *err)
{
    const json_t *cur = json_object_get(doc, "current_epoch"),
                 *keys = json_object_get(doc, "keys");
    const char *suite = json_string_value(json_object_get(doc, "suite"));
    if (suite == NULL || strcmp(suite, "VOPRF(ristretto255, SHA-512)") != 0 ||
        !json_is_integer(cur) || json_integer_value(cur) < 0 || !json_is_array(keys)) {
        return hush_err_set(err, HUSH_EINVAL,
                            "the token keys document is not one hush reads");
    }
    *epoch = (uint64_t)json_integer_value(cur);
    for (size_t i = 0; i < json_array_size(keys); i++) {
        const json_t *k = json_array_get(keys, i),
                     *pkj = json_object_get(k, "public_key");
        const json_t *vu = json_object_get(k, "valid_until");
        size_t got = 0;
        if (json_integer_value(json_object_get(k, "epoch")) == (json_int_t)*epoch &&
            json_is_string(pkj) && json_is_integer(vu) &&
            hush_b64_decode(json_string_value(pkj), json_string_length(pkj), pk, 32,
                            &got) == 0 &&
            got == 32) {
            *until = (int64_t)json_integer_value(vu);
            return 0;
        }
    }
    return hush_err_set(err, HUSH_EINVAL, "the token keys document has no current key");
}

static json_t *blinded_json(const struct hush__token_pending *p)
{
    json_t *arr = json_array();
    for (uint32_t i = 0; arr != NULL && i < p->n; i++) {
        char *b = hush_b64_encode(p->blinded + 32 * i, 32);
        if (b == NULL || json_array_append_new(arr, json_string(b)) != 0) {
            json_decref(arr);
            arr = NULL;
        }
        hush_free(b);
    }
    return arr;
}

int hush_agent_tokens_request(hush_agent *a, const char *keys_body, size_t keys_len,
                              const char *keys_signature, const char *attestation,
                              uint32_t n, char **out, size_t *out_len, hush_err *err)
{
    *out = NULL;
    if (n == 0 || n > HUSH_VOPRF_BATCH_MAX) {
        return hush_err_set(err, HUSH_EINVAL, "ask for 1 to %d tokens",
                            HUSH_VOPRF_BATCH_MAX);
    }
    struct hush__token_pending *p = hush_calloc(1, sizeof *p);
    if (p == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    int rc = hush__verify_trusted(a, keys_body, keys_len, keys_signature, err);
    json_t *keys = rc == 0 ? hush__json_loadb(keys_body, keys_len, 0, NULL, NULL) : NULL;
    json_t *att = rc == 0
                      ? hush__json_loadb(attestation, strlen(attestation), 0, NULL, NULL)
                      : NULL;
    if (rc == 0 && (keys == NULL || !json_is_object(att))) {
        rc = hush_err_set(err, HUSH_EINVAL, "%s",
                          keys == NULL ? "the token keys document is not JSON"
                                       : "the attestation must be a JSON object");
    }
    if (rc == 0) {
        rc = read_keys(keys, &p->epoch, p->pk, &p->valid_until, err);
    }
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        uint8_t input[HUSH_TOKEN_INPUT_BYTES];
        hush_rng_bytes(a->rng, p->nonces[i], HUSH_TOKEN_NONCE_BYTES);
        hush_token_input(p->epoch, p->nonces[i], input);
        rc = hush_voprf_blind(input, sizeof input, p->blinds + 32 * i, 0,
                              p->blinded + 32 * i, err);
        p->n = i + 1;
    }
    json_t *req = rc == 0 ? json_pack("{s:O, s:o, s:I}", "attestation", att, "blinded",
                                      blinded_json(p), "epoch", (json_int_t)p->epoch)
                          : NULL;
    if (rc == 0 &&
        (req == NULL || (*out = hush__json_dumps(req, JSON_COMPACT, out_len)) == NULL)) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    json_decref(req);
    json_decref(keys);
    json_decref(att);
    if (rc == 0) {
        hush__tokens_pending_free(a);
        a->pending = p;
    } else {
        sodium_memzero(p, sizeof *p);
        hush_free(p);
    }
    return rc;
}

/* The issuer's answer to the pending request: evaluated elements and proof
 * (checked against the pinned key, epoch and count). */
int hush__token_response_parse(const char *body, size_t len, uint64_t epoch,
                               const uint8_t pk[32], uint32_t n, uint8_t *evaluated,
                               uint8_t proof[64], hush_err *err)
{
    json_t *doc = hush__json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL, NULL);
    const json_t *ev = json_object_get(doc, "evaluated"),
                 *pr = json_object_get(doc, "proof");
    const json_t *pkj = json_object_get(doc, "public_key");
    uint8_t got_pk[32];
    size_t got = 0;
    int rc = 0;
    if (!json_is_object(doc) ||
        json_integer_value(json_object_get(doc, "epoch")) != (json_int_t)epoch ||
        !json_is_string(pkj) ||
        hush_b64_decode(json_string_value(pkj), json_string_length(pkj), got_pk, 32,
                        &got) != 0 ||
        got != 32 || sodium_memcmp(got_pk, pk, 32) != 0 || !json_is_array(ev) ||
        json_array_size(ev) != n || !json_is_string(pr) ||
        hush_b64_decode(json_string_value(pr), json_string_length(pr), proof, 64, &got) !=
            0 ||
        got != 64) {
        rc = hush_err_set(
            err, HUSH_EINVAL,
            "the issuer's answer is not for this request (epoch, key, count)");
    }
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        const json_t *e = json_array_get(ev, i);
        if (!json_is_string(e) ||
            hush_b64_decode(json_string_value(e), json_string_length(e),
                            evaluated + 32 * i, 32, &got) != 0 ||
            got != 32) {
            rc =
                hush_err_set(err, HUSH_EINVAL, "evaluated element %u is not 32 bytes", i);
        }
    }
    json_decref(doc);
    return rc;
}

int hush_agent_tokens_accept(hush_agent *a, const char *body, size_t len, uint32_t *added,
                             hush_err *err)
{
    *added = 0;
    struct hush__token_pending *p = a->pending;
    if (p == NULL) {
        return hush_err_set(err, HUSH_ESTATE,
                            "no token request is waiting for its answer");
    }
    uint8_t *ev = hush_malloc((size_t)p->n * 32), proof[64];
    uint8_t(*inputs)[HUSH_TOKEN_INPUT_BYTES] = hush_malloc((size_t)p->n * sizeof *inputs);
    const uint8_t **in = hush_malloc((size_t)p->n * sizeof *in);
    size_t *lens = hush_malloc((size_t)p->n * sizeof *lens);
    uint8_t *outs = hush_malloc((size_t)p->n * 64);
    int rc = ev == NULL || inputs == NULL || in == NULL || lens == NULL || outs == NULL
                 ? hush_err_set(err, HUSH_ENOMEM, "out of memory")
                 : hush__token_response_parse(body, len, p->epoch, p->pk, p->n, ev, proof,
                                              err);
    for (uint32_t i = 0; rc == 0 && i < p->n; i++) {
        hush_token_input(p->epoch, p->nonces[i], inputs[i]);
        in[i] = inputs[i];
        lens[i] = HUSH_TOKEN_INPUT_BYTES;
    }
    if (rc == 0) {
        rc = hush_voprf_finalize(p->pk, in, lens, p->blinds, p->blinded, ev, p->n, proof,
                                 outs, err);
    }
    wallet_token *w = NULL;
    size_t have = 0;
    if (rc == 0 && (rc = hush__ledger_lock(&a->ledger, hush__agent_now(a), err)) == 0) {
        rc = wallet_load(a, &w, &have, err);
        wallet_token *more = rc == 0 ? hush_realloc(w, (have + p->n) * sizeof *w) : NULL;
        if (rc == 0 && (more == NULL || have + p->n > WALLET_MAX)) {
            rc = hush_err_set(err, more == NULL ? HUSH_ENOMEM : HUSH_ETOOBIG,
                              "the wallet holds at most %d tokens", WALLET_MAX);
        }
        if (more != NULL) {
            w = more;
        }
        for (uint32_t i = 0; rc == 0 && i < p->n; i++) {
            wallet_token *t = &w[have + i];
            t->epoch = p->epoch;
            t->valid_until = p->valid_until;
            memcpy(t->nonce, p->nonces[i], sizeof t->nonce);
            memcpy(t->auth, outs + 64 * i, sizeof t->auth);
        }
        if (rc == 0 && (rc = wallet_save(a, w, have + p->n, err)) == 0) {
            *added = p->n;
        }
        hush__ledger_unlock(&a->ledger);
    }
    if (w != NULL) {
        sodium_memzero(w, (have + (rc == 0 ? p->n : 0)) * sizeof *w);
    }
    hush_free(w);
    hush_free(ev);
    hush_free(inputs);
    hush_free(in);
    hush_free(lens);
    hush_free(outs);
    hush__tokens_pending_free(a); /* answered, or refused: either way it is done */
    return rc;
}

/* Drops the tokens the collector no longer takes. */
static size_t drop_expired(wallet_token *w, size_t n, int64_t now)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (w[i].valid_until > now) {
            w[k++] = w[i];
        }
    }
    return k;
}

int hush__wallet_count_locked(hush_agent *a, uint32_t *n, hush_err *err)
{
    wallet_token *w = NULL;
    size_t have = 0;
    int rc = wallet_load(a, &w, &have, err);
    *n = rc == 0 ? (uint32_t)drop_expired(w, have, hush__agent_now(a)) : 0;
    hush_free(w);
    return rc;
}

int hush_agent_tokens_count(hush_agent *a, uint32_t *n, hush_err *err)
{
    int rc = hush__ledger_lock(&a->ledger, hush__agent_now(a), err);
    if (rc == 0) {
        rc = hush__wallet_count_locked(a, n, err);
    }
    hush__ledger_unlock(&a->ledger);
    return rc;
}

int hush__wallet_take_locked(hush_agent *a, uint32_t n, hush_token *out, hush_err *err)
{
    wallet_token *w = NULL;
    size_t have = 0;
    int rc = wallet_load(a, &w, &have, err);
    if (rc == 0) {
        have = drop_expired(w, have, hush__agent_now(a));
        if (have < n) {
            rc = hush_err_set(err, HUSH_EBUDGET,
                              "%u anonymous tokens needed, %zu held: get more first", n,
                              have);
        }
    }
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        out[i].epoch = w[i].epoch;
        memcpy(out[i].nonce, w[i].nonce, sizeof out[i].nonce);
        memcpy(out[i].authenticator, w[i].auth, sizeof out[i].authenticator);
    }
    /* gone from the wallet before the batch leaves the library */
    if (rc == 0) {
        rc = wallet_save(a, w + n, have - n, err);
    }
    if (w != NULL) {
        sodium_memzero(w, have * sizeof *w);
    }
    hush_free(w);
    return rc;
}
