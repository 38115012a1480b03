/*
 * tokens.c - anonymous tokens (Privacy Pass's issuance and redemption,
 * RFC 9576/9578, on the VOPRF of hush_token.h): the issuer keys by epoch,
 * the signed list of them devices pin, issuance behind the operator's
 * attestation check with a daily limit per attestation, and redemption:
 * a report batch for a campaign that requires tokens carries one token per
 * report, each checked against its epoch's key and spent once.
 *
 * What the collector learns: at issuance, an attestation (who may get
 * tokens today) and blinded elements, which are uniformly random and
 * independent of the tokens they become; at redemption, a token's epoch,
 * nonce and authenticator, which nothing at issuance predicts.  So it can
 * count and refuse, but not link a report to an issuance.  The daily count
 * is stored under a keyed hash of the attestation whose key changes every
 * day (derived from the master secret and the day), so the store alone
 * does not link one device's days.
 */
#include <stdio.h>
#include <string.h>

#include "domain.h"
#include "hush_json.h"

#define ATTEST_ID_MAX 256
#define ATTEST_TIMEOUT_S 10
#define EPOCHS_VALID 2 /* the current epoch and the one before */

static uint64_t epoch_seconds(const hush_collector *h)
{
    return (uint64_t)h->cfg.token_epoch_hours * 3600u;
}

static uint64_t epoch_now(const hush_collector *h)
{
    return (uint64_t)hush__wall() / epoch_seconds(h);
}

/* The issuer key of an epoch, derived once and cached. */
static int epoch_key(hush_collector *h, uint64_t epoch, uint8_t sk[32], uint8_t pk[32],
                     hush_err *err)
{
    pthread_mutex_lock(&h->token_lock);
    struct hush__token_key *slot = &h->token_keys[epoch % 4];
    int rc = 0;
    if (!slot->set || slot->epoch != epoch) {
        rc = hush_token_epoch_key(h->token_master, epoch, slot->sk, slot->pk, err);
        slot->set = rc == 0;
        slot->epoch = epoch;
    }
    if (rc == 0) {
        memcpy(sk, slot->sk, 32);
        memcpy(pk, slot->pk, 32);
    }
    pthread_mutex_unlock(&h->token_lock);
    return rc;
}

int hush__tokens_init(hush_collector *h, hush_err *err)
{
    pthread_mutex_init(&h->token_lock, NULL);
    const char *a = h->cfg.token_attestation;
    if (strncmp(a, "hmac:", 5) != 0) {
        return 0;
    }
    FILE *f = fopen(a + 5, "rb");
    if (f == NULL) {
        return hush_err_set(err, HUSH_EIO, "token-attestation: cannot open %s", a + 5);
    }
    h->attest_secret_len = fread(h->attest_secret, 1, sizeof h->attest_secret, f);
    fclose(f);
    while (h->attest_secret_len > 0 &&
           (h->attest_secret[h->attest_secret_len - 1] == '\n' ||
            h->attest_secret[h->attest_secret_len - 1] == '\r')) {
        h->attest_secret_len--;
    }
    if (h->attest_secret_len < 16) {
        return hush_err_set(err, HUSH_EINVAL,
                            "token-attestation: %s must hold a secret of 16 to 64 bytes",
                            a + 5);
    }
    return 0;
}

int hush__tokens_keys(hush_collector *h, json_t **out, hush__fail *f)
{
    uint64_t now = epoch_now(h), es = epoch_seconds(h);
    json_t *keys = json_array();
    hush_err err = {0};
    for (uint64_t e = now; keys != NULL && e <= now + 1; e++) {
        uint8_t sk[32], pk[32];
        if (epoch_key(h, e, sk, pk, &err) != 0) {
            json_decref(keys);
            return hush__fail_internal(f, &err);
        }
        sodium_memzero(sk, sizeof sk);
        char *b64 = hush_b64_encode(pk, sizeof pk);
        json_t *o = b64 != NULL
                        ? json_pack("{s:I, s:s, s:I, s:I}", "epoch", (json_int_t)e,
                                    "public_key", b64, "not_before", (json_int_t)(e * es),
                                    "valid_until", (json_int_t)((e + EPOCHS_VALID) * es))
                        : NULL;
        hush_free(b64);
        if (o == NULL || json_array_append_new(keys, o) != 0) {
            json_decref(keys);
            keys = NULL;
        }
    }
    const char *a = h->cfg.token_attestation;
    *out = keys != NULL ? json_pack("{s:s, s:I, s:I, s:o, s:I, s:s}", "suite",
                                    "VOPRF(ristretto255, SHA-512)", "epoch_seconds",
                                    (json_int_t)es, "current_epoch", (json_int_t)now,
                                    "keys", keys, "tokens_per_day",
                                    (json_int_t)h->cfg.tokens_per_day, "attestation",
                                    a[0] == '\0'                  ? "none"
                                    : strncmp(a, "hmac:", 5) == 0 ? "hmac"
                                                                  : "command")
                        : NULL;
    return *out != NULL ? 0 : hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
}

/* The attestation's identity (at most ATTEST_ID_MAX bytes), or a refusal. */
static int attest(hush_collector *h, const json_t *att, char id[ATTEST_ID_MAX + 1],
                  hush__fail *f)
{
    const char *scheme = h->cfg.token_attestation;
    if (scheme[0] == '\0') {
        return hush__fail_set(
            f, HUSH_EUNSUPPORTED, "tokens_off",
            "this collector issues no tokens (hushd --token-attestation)");
    }
    if (!json_is_object(att)) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid",
                              "\"attestation\" must be an object");
    }
    if (strncmp(scheme, "hmac:", 5) == 0) {
        const char *who = json_string_value(json_object_get(att, "id"));
        const char *mac = json_string_value(json_object_get(att, "mac"));
        uint8_t want[crypto_auth_hmacsha256_BYTES], got[crypto_auth_hmacsha256_BYTES];
        size_t got_len = 0;
        if (who == NULL || mac == NULL || strlen(who) == 0 ||
            strlen(who) > ATTEST_ID_MAX ||
            sodium_hex2bin(got, sizeof got, mac, strlen(mac), NULL, &got_len, NULL) !=
                0 ||
            got_len != sizeof got) {
            return hush__fail_set(
                f, HUSH_EINVAL, "invalid",
                "an hmac attestation is {\"id\": 1 to %d bytes, \"mac\": "
                "64 hex digits}",
                ATTEST_ID_MAX);
        }
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, h->attest_secret, h->attest_secret_len);
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)who, strlen(who));
        crypto_auth_hmacsha256_final(&st, want);
        if (sodium_memcmp(want, got, sizeof want) != 0) {
            return hush__fail_set(f, HUSH_EPERM, "attestation_refused",
                                  "the attestation does not verify");
        }
        snprintf(id, ATTEST_ID_MAX + 1, "%s", who);
        return 0;
    }
    char *doc = hush_json_dumps(att, JSON_COMPACT | JSON_SORT_KEYS);
    char *answer = NULL;
    size_t len = 0;
    hush_err err = {0};
    int rc = doc != NULL
                 ? hush__external_run(scheme + 4, doc, strlen(doc), ATTEST_TIMEOUT_S,
                                      ATTEST_ID_MAX + 2, &answer, &len, &err)
                 : hush_err_set(&err, HUSH_ENOMEM, "out of memory");
    hush_free(doc);
    size_t n = answer != NULL ? strcspn(answer, "\r\n") : 0;
    if (rc != 0 || n == 0 || n > ATTEST_ID_MAX) {
        hush_free(answer);
        if (rc == HUSH_ENOMEM) {
            return hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
        }
        hush__log(h, "info", "token attestation refused: %s",
                  rc != 0 ? err.msg : "the check printed no identity");
        return hush__fail_set(f, HUSH_EPERM, "attestation_refused",
                              "the attestation does not verify");
    }
    memcpy(id, answer, n);
    id[n] = '\0';
    hush_free(answer);
    return 0;
}

/* The blinded elements of an issuance request (n * 32 bytes, new). */
static int read_blinded(const json_t *arr, uint32_t limit, uint8_t **out, size_t *n,
                        hush__fail *f)
{
    size_t count = json_array_size(arr);
    if (!json_is_array(arr) || count == 0 || count > limit) {
        return hush__fail_set(f, HUSH_EINVAL, "invalid",
                              "\"blinded\" must be an array of 1 to %u elements (base64)",
                              limit);
    }
    uint8_t *b = hush_malloc(count * 32);
    if (b == NULL) {
        return hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        const json_t *v = json_array_get(arr, i);
        size_t got = 0;
        if (!json_is_string(v) ||
            hush_b64_decode(json_string_value(v), json_string_length(v), b + 32 * i, 32,
                            &got) != 0 ||
            got != 32) {
            hush_free(b);
            return hush__fail_set(f, HUSH_EINVAL, "invalid",
                                  "blinded element %zu is not 32 bytes of base64", i);
        }
    }
    *out = b;
    *n = count;
    return 0;
}

/* The day's keyed hash of an attestation identity. */
static void who_of(const hush_collector *h, int64_t day, const char *id, uint8_t who[32])
{
    uint8_t key[crypto_generichash_KEYBYTES];
    char label[40];
    snprintf(label, sizeof label, "hush attestation day %lld", (long long)day);
    crypto_generichash(key, sizeof key, (const uint8_t *)label, strlen(label),
                       h->token_master, sizeof h->token_master);
    crypto_generichash(who, 32, (const uint8_t *)id, strlen(id), key, sizeof key);
    sodium_memzero(key, sizeof key);
}

/* The answer: {"epoch", "public_key", "evaluated": [...], "proof"}. */
static json_t *issued_doc(uint64_t epoch, const uint8_t pk[32], const uint8_t *ev,
                          size_t n, const uint8_t proof[64])
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++) {
        char *b = hush_b64_encode(ev + 32 * i, 32);
        if (b == NULL || json_array_append_new(arr, json_string(b)) != 0) {
            json_decref(arr);
            arr = NULL;
        }
        hush_free(b);
    }
    char *pkb = hush_b64_encode(pk, 32), *pb = hush_b64_encode(proof, 64);
    json_t *doc = arr != NULL && pkb != NULL && pb != NULL
                      ? json_pack("{s:I, s:s, s:o, s:s}", "epoch", (json_int_t)epoch,
                                  "public_key", pkb, "evaluated", arr, "proof", pb)
                      : NULL;
    if (doc == NULL) {
        json_decref(arr);
    }
    hush_free(pkb);
    hush_free(pb);
    return doc;
}

/* The issuance counters of /metrics. */
static void count_issuance(hush__metrics *m, int rc, const hush__fail *f, size_t n)
{
    if (rc == 0) {
        __atomic_add_fetch(&m->tokens_issued, n, __ATOMIC_RELAXED);
        return;
    }
    const char *why = f->reason != NULL ? f->reason : "";
    int k = strcmp(why, "attestation_refused") == 0 ? 0
            : strcmp(why, "token_limit") == 0       ? 1
            : strcmp(why, "tokens_off") == 0        ? 3
                                                    : 2;
    __atomic_add_fetch(&m->token_requests_refused[k], 1, __ATOMIC_RELAXED);
}

static int issue(hush_collector *h, const json_t *req, json_t **out, hush__fail *f)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)req, key, v)
    {
        if (strcmp(key, "attestation") != 0 && strcmp(key, "blinded") != 0 &&
            strcmp(key, "epoch") != 0) {
            return hush__fail_set(f, HUSH_EINVAL, "invalid", "unknown field \"%s\"", key);
        }
    }
    uint64_t now = epoch_now(h), epoch = now;
    const json_t *e = json_object_get(req, "epoch");
    if (e != NULL) {
        if (!json_is_integer(e) || (json_integer_value(e) != (json_int_t)now &&
                                    json_integer_value(e) != (json_int_t)now + 1)) {
            return hush__fail_set(f, HUSH_EINVAL, "invalid_epoch",
                                  "\"epoch\" must be the current epoch %llu or the next",
                                  (unsigned long long)now);
        }
        epoch = (uint64_t)json_integer_value(e);
    }
    char id[ATTEST_ID_MAX + 1];
    uint8_t *blinded = NULL;
    size_t n = 0;
    int rc = read_blinded(json_object_get(req, "blinded"), h->cfg.tokens_per_day,
                          &blinded, &n, f);
    if (rc == 0) {
        rc = attest(h, json_object_get(req, "attestation"), id, f);
    }
    uint8_t sk[32], pk[32], proof[64], who[32];
    uint8_t *ev = rc == 0 ? hush_malloc(n * 32) : NULL;
    hush_err err = {0};
    if (rc == 0 && ev == NULL) {
        rc = hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
    }
    if (rc == 0 && epoch_key(h, epoch, sk, pk, &err) != 0) {
        rc = hush__fail_internal(f, &err);
    }
    /* check the elements before counting them against the day */
    if (rc == 0 &&
        hush_voprf_blind_evaluate(sk, pk, blinded, n, NULL, ev, proof, &err) != 0) {
        rc = hush__fail_set(f, HUSH_EINVAL, "invalid", "%s", err.msg);
    }
    int64_t day = hush__wall() / 86400;
    if (rc == 0) {
        who_of(h, day, id, who);
        int src = h->store->ops->token_issue(h->store, day, who, (uint32_t)n,
                                             h->cfg.tokens_per_day, &err);
        rc = src == HUSH_EBUDGET
                 ? hush__fail_set(f, HUSH_ELIMIT, "token_limit",
                                  "this attestation may get %u tokens a day: %s",
                                  h->cfg.tokens_per_day, err.msg)
             : src != 0 ? hush__fail_from(f, &err, "unavailable")
                        : 0;
    }
    sodium_memzero(sk, sizeof sk);
    if (rc == 0 && (*out = issued_doc(epoch, pk, ev, n, proof)) == NULL) {
        rc = hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
    }
    hush_free(blinded);
    hush_free(ev);
    return rc;
}

int hush__tokens_issue(hush_collector *h, const json_t *req, json_t **out, hush__fail *f)
{
    int rc = issue(h, req, out, f);
    count_issuance(&h->metrics, rc, f,
                   rc == 0 ? json_array_size(json_object_get(*out, "evaluated")) : 0);
    return rc;
}

/* The id a spent token is recorded under: SHA-256 of its input. */
static void token_id(const hush_token *t, uint8_t id[32])
{
    uint8_t input[HUSH_TOKEN_INPUT_BYTES];
    hush_token_input(t->epoch, t->nonce, input);
    crypto_hash_sha256(id, input, sizeof input);
}

/* One token: its epoch still valid, its authenticator the key's output. */
static int token_ok(hush_collector *h, const hush_token *t, uint64_t now, size_t i,
                    hush__fail *f)
{
    if (t->epoch + EPOCHS_VALID <= now || t->epoch > now + 1) {
        return hush__fail_set(
            f, HUSH_EPERM, "token_expired",
            "token %zu is of epoch %llu; the collector takes %llu to %llu", i,
            (unsigned long long)t->epoch, (unsigned long long)(now + 1 - EPOCHS_VALID),
            (unsigned long long)(now + 1));
    }
    uint8_t sk[32], pk[32], input[HUSH_TOKEN_INPUT_BYTES], want[64];
    hush_err err = {0};
    hush_token_input(t->epoch, t->nonce, input);
    int rc = epoch_key(h, t->epoch, sk, pk, &err);
    if (rc == 0) {
        rc = hush_voprf_evaluate(sk, input, sizeof input, want, &err);
    }
    sodium_memzero(sk, sizeof sk);
    if (rc != 0) {
        return hush__fail_internal(f, &err);
    }
    return sodium_memcmp(want, t->authenticator, sizeof want) == 0
               ? 0
               : hush__fail_set(f, HUSH_EPERM, "invalid_token",
                                "token %zu was not issued by this collector", i);
}

int hush__tokens_redeem(hush_collector *h, const json_t *arr, size_t n_reports,
                        const uint8_t *batch_id, hush__fail *f)
{
    hush_token *t = NULL;
    size_t n = 0;
    hush_err err = {0};
    if (arr == NULL) {
        return hush__fail_set(f, HUSH_EPERM, "tokens_required",
                              "this campaign takes reports only with one token each");
    }
    if (hush_tokens_from_json(arr, HUSH_BATCH_MAX_REPORTS, &t, &n, &err) != 0) {
        return hush__fail_set(f, err.code, "invalid_token", "%s", err.msg);
    }
    int rc = n == n_reports
                 ? 0
                 : hush__fail_set(f, HUSH_EINVAL, "invalid_token",
                                  "%zu tokens for %zu reports: one token per report", n,
                                  n_reports);
    uint64_t now = epoch_now(h);
    uint8_t *ids = rc == 0 ? hush_malloc(n * 32) : NULL;
    uint64_t *epochs = rc == 0 ? hush_malloc(n * sizeof *epochs) : NULL;
    if (rc == 0 && (ids == NULL || epochs == NULL)) {
        rc = hush__fail_set(f, HUSH_ENOMEM, "internal", "out of memory");
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = token_ok(h, &t[i], now, i, f);
        token_id(&t[i], ids + 32 * i);
        epochs[i] = t[i].epoch;
        for (size_t j = 0; rc == 0 && j < i; j++) {
            if (memcmp(ids + 32 * j, ids + 32 * i, 32) == 0) {
                rc = hush__fail_set(f, HUSH_EEXIST, "token_spent",
                                    "token %zu is token %zu again", i, j);
            }
        }
    }
    if (rc == 0) {
        int src = h->store->ops->tokens_spend(h->store, ids, epochs, n, batch_id, &err);
        rc = src == HUSH_EEXIST ? hush__fail_set(f, HUSH_EEXIST, "token_spent",
                                                 "a token was spent before: %s", err.msg)
             : src != 0         ? hush__fail_from(f, &err, "unavailable")
                                : 0;
    }
    if (rc == 0 && now >= EPOCHS_VALID &&
        __atomic_load_n(&h->token_expired_epoch, __ATOMIC_RELAXED) <
            now + 1 - EPOCHS_VALID) {
        hush_err ignored = {0}; /* forgetting late costs room, never a double spend */
        if (h->store->ops->tokens_expire(h->store, now + 1 - EPOCHS_VALID,
                                         hush__wall() / 86400, &ignored) == 0) {
            __atomic_store_n(&h->token_expired_epoch, now + 1 - EPOCHS_VALID,
                             __ATOMIC_RELAXED);
        }
    }
    hush_free(t);
    hush_free(ids);
    hush_free(epochs);
    return rc;
}
