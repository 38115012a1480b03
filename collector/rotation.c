/*
 * rotation.c - rotating the signing key without an app release
 * (docs/operations.md): a new key, a continuity document signed by the old
 * and the new key (appended to continuity.jsonl before anything else, so
 * that a device fetching it early can already follow), the key saved,
 * then, under the campaigns write lock, the key switched and every open
 * publication (campaigns' rounds, model tasks) re-signed.  keys.c holds
 * the keys; this file is the one that calls both it and the campaigns.
 */
#include <sodium.h>
#include <stdio.h>

#include "domain.h"

static int continuity_entry(hush_collector *h, const uint8_t *pk, const uint8_t *sk,
                            char **body, char **line)
{
    uint8_t old_pk[crypto_sign_PUBLICKEYBYTES];
    hush__sign_pk(h, old_pk);
    char *old_b64 = hush_b64_encode(old_pk, sizeof old_pk);
    char *new_b64 = hush_b64_encode(pk, crypto_sign_PUBLICKEYBYTES);
    json_t *d = old_b64 != NULL && new_b64 != NULL
                    ? json_pack("{s:s, s:i, s:s, s:s, s:I}", "kind",
                                "hush-key-continuity", "version", 1, "old_key", old_b64,
                                "new_key", new_b64, "issued_at", (json_int_t)hush__wall())
                    : NULL;
    hush_free(old_b64);
    hush_free(new_b64);
    *body = d != NULL ? hush_json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    *line = NULL;
    if (*body == NULL) {
        return HUSH_ENOMEM;
    }
    uint8_t s_old[crypto_sign_BYTES], s_new[crypto_sign_BYTES];
    hush__sign(h, *body, strlen(*body), s_old);
    crypto_sign_detached(s_new, NULL, (const uint8_t *)*body, strlen(*body), sk);
    char *so = hush_b64_encode(s_old, sizeof s_old),
         *sn = hush_b64_encode(s_new, sizeof s_new);
    json_t *entry = so != NULL && sn != NULL
                        ? json_pack("{s:s, s:s, s:s}", "document", *body, "old_signature",
                                    so, "new_signature", sn)
                        : NULL;
    hush_free(so);
    hush_free(sn);
    *line = entry != NULL ? hush_json_dumps(entry, JSON_COMPACT) : NULL;
    json_decref(entry);
    return *line != NULL ? 0 : HUSH_ENOMEM;
}

int hush__keys_rotate(hush_collector *h, json_t **out, hush_err *err)
{
    uint8_t seed[crypto_sign_SEEDBYTES], pk[crypto_sign_PUBLICKEYBYTES],
        sk[crypto_sign_SECRETKEYBYTES];
    randombytes_buf(seed, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    char *body = NULL, *line = NULL;
    int rc = continuity_entry(h, pk, sk, &body, &line) != 0
                 ? hush_err_set(err, HUSH_ENOMEM, "out of memory rotating keys")
                 : 0;
    if (rc == 0) {
        rc = hush__keys_append_continuity(h, line, err);
    }
    if (rc == 0) {
        rc = hush__keys_save_signing(h, seed, err);
    }
    if (rc == 0) {
        pthread_rwlock_wrlock(&h->campaigns_lock);
        hush__keys_use(h, pk, sk);
        rc = hush__campaigns_resign(h, err);
        if (rc == 0) {
            hush__tasks_resign(h);
            rc = hush__keys_json_rebuild(h, err);
        }
        pthread_rwlock_unlock(&h->campaigns_lock);
    }
    char *new_b64 = rc == 0 ? hush_b64_encode(pk, sizeof pk) : NULL;
    if (rc == 0) {
        *out = new_b64 != NULL
                   ? json_pack("{s:s, s:s}", "signing_key", new_b64, "document", body)
                   : NULL;
    }
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(sk, sizeof sk);
    hush_free(new_b64);
    hush_free(body);
    hush_free(line);
    return rc;
}
