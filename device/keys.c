/*
 * keys.c - the collector keys a device trusts: the one the app pins, and
 * those it reached by following the collector's key-continuity documents
 * (GET /v1/keys "continuity"), each signed by a key already trusted and by
 * the new key itself.  Followed keys are kept in `state_dir/trusted-keys`
 * (one base64 key per line, written atomically), so that a restart trusts
 * them too.  A publication is accepted if any trusted key signed it.
 *
 * Invariant: a key is trusted only through a chain of valid documents from
 * the pinned key; a document whose old key is not trusted is ignored, one
 * with a bad signature is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "device_internal.h"

#define KEYS_FILE "trusted-keys"

static bool trusted(const hush_agent *a, const uint8_t key[32])
{
    for (size_t i = 0; i < a->n_keys; i++) {
        if (sodium_memcmp(a->keys[i], key, 32) == 0) {
            return true;
        }
    }
    return false;
}

int hush__trusted_keys_load(hush_agent *a, hush_err *err)
{
    memcpy(a->keys[0], a->cfg.collector_key, 32);
    a->n_keys = 1;
    char path[HUSH__STATE_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", a->state_dir, KEYS_FILE);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return errno == ENOENT ? 0
                               : hush_err_set(err, HUSH_EIO, "cannot read %s: %s", path,
                                              strerror(errno));
    }
    char line[128];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        uint8_t key[32];
        size_t n = 0;
        if (hush_b64_decode(line, strlen(line), key, sizeof key, &n) != 0 || n != 32) {
            rc =
                hush_err_set(err, HUSH_ECORRUPT, "%s: a line is not a 32-byte key", path);
        } else if (!trusted(a, key) && a->n_keys < HUSH__MAX_KEYS) {
            memcpy(a->keys[a->n_keys++], key, 32);
        }
    }
    fclose(f);
    return rc;
}

static int keys_save(const hush_agent *a, hush_err *err)
{
    char path[HUSH__STATE_PATH_MAX + 32], tmp[HUSH__STATE_PATH_MAX + 40];
    snprintf(path, sizeof path, "%s/%s", a->state_dir, KEYS_FILE);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        return hush_err_set(err, HUSH_EIO, "cannot write %s: %s", tmp, strerror(errno));
    }
    bool ok = true;
    for (size_t i = 1; i < a->n_keys; i++) { /* the pinned one is the app's */
        char *b64 = hush_b64_encode(a->keys[i], 32);
        ok = ok && b64 != NULL && fprintf(f, "%s\n", b64) > 0;
        hush_free(b64);
    }
    ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return hush_err_set(err, HUSH_EIO, "cannot write %s", path);
    }
    return 0;
}

int hush__verify_trusted(const hush_agent *a, const char *body, size_t len,
                         const char *signature, hush_err *err)
{
    int rc = HUSH_ESIGNATURE;
    for (size_t i = 0; i < a->n_keys; i++) {
        hush_err e = {0};
        rc = hush_publication_verify(body, len, signature, a->keys[i], &e);
        if (rc == 0) {
            return 0;
        }
        if (rc != HUSH_ESIGNATURE) {
            return hush_err_set(err, rc, "%s", e.msg); /* malformed, not unsigned */
        }
    }
    return hush_err_set(err, HUSH_ESIGNATURE,
                        "the publication is not signed by the pinned key or one followed "
                        "from it (%zu trusted; a rotated key is followed with "
                        "hush_agent_follow_keys)",
                        a->n_keys);
}

static int b64_key(const json_t *v, uint8_t out[32])
{
    size_t n = 0;
    const char *s = json_string_value(v);
    return s != NULL && hush_b64_decode(s, strlen(s), out, 32, &n) == 0 && n == 32 ? 0
                                                                                   : -1;
}

static int b64_sig(const json_t *v, uint8_t out[crypto_sign_BYTES])
{
    size_t n = 0;
    const char *s = json_string_value(v);
    return s != NULL && hush_b64_decode(s, strlen(s), out, crypto_sign_BYTES, &n) == 0 &&
                   n == crypto_sign_BYTES
               ? 0
               : -1;
}

int hush_agent_follow_keys(hush_agent *a, const char *keys_json, size_t len,
                           size_t *added, hush_err *err)
{
    *added = 0;
    json_t *doc = json_loadb(keys_json, len, JSON_REJECT_DUPLICATES, NULL);
    const json_t *chain = json_object_get(doc, "continuity");
    if (doc == NULL || (chain != NULL && !json_is_array(chain))) {
        json_decref(doc);
        return hush_err_set(
            err, HUSH_EINVAL,
            "not a GET /v1/keys document (\"continuity\" must be a list)");
    }
    int rc = 0;
    size_t before = a->n_keys;
    /* oldest first; a pass per document at most, so that a chain in any
     * order is followed and a document is used once */
    for (size_t pass = 0; pass < json_array_size(chain) && rc == 0; pass++) {
        bool progress = false;
        for (size_t i = 0; i < json_array_size(chain) && rc == 0; i++) {
            const json_t *e = json_array_get(chain, i);
            const char *text = json_string_value(json_object_get(e, "document"));
            uint8_t so[crypto_sign_BYTES], sn[crypto_sign_BYTES], oldk[32], newk[32];
            json_t *d =
                text != NULL ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
            const char *kind = json_string_value(json_object_get(d, "kind"));
            if (d == NULL || kind == NULL || strcmp(kind, "hush-key-continuity") != 0 ||
                json_integer_value(json_object_get(d, "version")) != 1 ||
                b64_key(json_object_get(d, "old_key"), oldk) != 0 ||
                b64_key(json_object_get(d, "new_key"), newk) != 0 ||
                b64_sig(json_object_get(e, "old_signature"), so) != 0 ||
                b64_sig(json_object_get(e, "new_signature"), sn) != 0) {
                rc = hush_err_set(err, HUSH_EINVAL,
                                  "continuity document %zu is malformed", i + 1);
            } else if (trusted(a, oldk) && !trusted(a, newk)) {
                size_t tl = strlen(text);
                if (crypto_sign_verify_detached(so, (const uint8_t *)text, tl, oldk) !=
                        0 ||
                    crypto_sign_verify_detached(sn, (const uint8_t *)text, tl, newk) !=
                        0) {
                    rc = hush_err_set(
                        err, HUSH_ESIGNATURE,
                        "continuity document %zu is not signed by both keys: "
                        "refused",
                        i + 1);
                } else if (a->n_keys == HUSH__MAX_KEYS) {
                    rc = hush_err_set(err, HUSH_ETOOBIG, "more than %d collector keys",
                                      HUSH__MAX_KEYS);
                } else {
                    memcpy(a->keys[a->n_keys++], newk, 32);
                    progress = true;
                }
            }
            json_decref(d);
        }
        if (!progress) {
            break;
        }
    }
    json_decref(doc);
    if (rc == 0 && a->n_keys > before) {
        rc = keys_save(a, err);
    }
    if (rc != 0) {
        a->n_keys = before; /* nothing half-followed */
        return rc;
    }
    *added = a->n_keys - before;
    return 0;
}
