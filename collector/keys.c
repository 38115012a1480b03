/*
 * keys.c - the collector's long-term secrets: the Ed25519 signing key, the
 * X25519 sealing key, and the admin token.
 *
 * Invariants: key files are created once, with mode 0600, by exclusive
 * create, written and fsynced before use; a key file of the wrong size is an
 * error, never silently replaced.  The admin token itself is not kept in
 * memory: only its BLAKE2b hash, compared in constant time.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "domain.h"

/* Reads exactly `len` bytes from `path`, or creates it with `fresh` bytes
 * (mode 0600) if it does not exist.  *created says which. */
static int read_or_create(const char *path, uint8_t *buf, size_t len,
                          const uint8_t *fresh, bool *created, hush_err *err)
{
    *created = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            return hush_err_set(err, HUSH_EIO, "cannot create %s: %s", path,
                                strerror(errno));
        }
        ssize_t w = write(fd, fresh, len);
        int sync_rc = fsync(fd);
        close(fd);
        if (w != (ssize_t)len || sync_rc != 0) {
            unlink(path);
            return hush_err_set(err, HUSH_EIO, "cannot write %s", path);
        }
        memcpy(buf, fresh, len);
        *created = true;
        return 0;
    }
    if (fd < 0) {
        return hush_err_set(err, HUSH_EIO, "cannot open %s: %s", path, strerror(errno));
    }
    uint8_t extra;
    ssize_t r = read(fd, buf, len);
    ssize_t more = read(fd, &extra, 1);
    close(fd);
    if (r != (ssize_t)len || more != 0) {
        return hush_err_set(err, HUSH_ECORRUPT,
                            "%s is not a %zu-byte key file; refusing to replace it", path,
                            len);
    }
    return 0;
}

void hush__sign(hush_collector *h, const void *msg, size_t len,
                uint8_t sig[crypto_sign_BYTES])
{
    pthread_mutex_lock(&h->sign_lock);
    crypto_sign_detached(sig, NULL, msg, len, h->sign_sk);
    pthread_mutex_unlock(&h->sign_lock);
}

void hush__sign_pk(hush_collector *h, uint8_t pk[crypto_sign_PUBLICKEYBYTES])
{
    pthread_mutex_lock(&h->sign_lock);
    memcpy(pk, h->sign_pk, crypto_sign_PUBLICKEYBYTES);
    pthread_mutex_unlock(&h->sign_lock);
}

/* ---- key rotation ----
 *
 * Apps pin the collector's signing key.  To change it without an app
 * release, hushd publishes a key-continuity document, signed by the old key
 * (what devices trust) and by the new one (proof that whoever made it holds
 * the new key):
 *   {"kind":"hush-key-continuity","version":1,"old_key":B64,"new_key":B64,
 *    "issued_at":T}
 * GET /v1/keys lists every document since the first key, oldest first;
 * devices follow the chain from the key they pin (hush_agent_follow_keys).
 * The documents are kept in <key-dir>/continuity.jsonl, one JSON line
 * {"document":TEXT,"old_signature":B64,"new_signature":B64} each. */

static char *continuity_path(const hush_collector *h, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/continuity.jsonl", h->cfg.key_dir);
    return buf;
}

/* The GET /v1/keys body: the keys, and the continuity documents. */
static int keys_json_build(hush_collector *h, hush_err *err)
{
    char path[HUSH_PATH_MAX + 32];
    json_t *chain = json_array();
    FILE *f = fopen(continuity_path(h, path, sizeof path), "r");
    hush__buf line;
    hush__buf_init(&line, 1 << 20);
    int got;
    while (f != NULL && chain != NULL && (got = hush__buf_getline(&line, f)) != 0) {
        json_t *o = got > 0 ? json_loadb(line.data, line.len, 0, NULL) : NULL;
        if (o == NULL || json_array_append_new(chain, o) != 0) {
            hush__buf_free(&line);
            fclose(f);
            json_decref(chain);
            return hush_err_set(err, HUSH_ECORRUPT, "%s: a line is not JSON", path);
        }
    }
    hush__buf_free(&line);
    if (f != NULL) {
        fclose(f);
    }
    char *sign_b64 = hush_b64_encode(h->sign_pk, sizeof h->sign_pk);
    char *seal_b64 = hush_b64_encode(h->seal_pk, sizeof h->seal_pk);
    json_t *doc =
        sign_b64 != NULL && seal_b64 != NULL && chain != NULL
            ? json_pack("{s:s, s:s, s:s, s:s, s:o}", "signing_key", sign_b64,
                        "signing_algorithm", "ed25519", "sealing_key", seal_b64,
                        "sealing_algorithm", "crypto_box_seal", "continuity", chain)
            : NULL;
    hush_free(sign_b64);
    hush_free(seal_b64);
    char *text = doc != NULL ? hush_json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (text == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    hush_free(h->keys_json);
    h->keys_json = text;
    return 0;
}

/* Writes `len` bytes to `path` atomically (temporary file, fsync, rename,
 * fsync of the directory). */
static int write_atomic(const char *dir, const char *path, const void *data, size_t len,
                        hush_err *err)
{
    char tmp[HUSH_PATH_MAX + 48];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return hush_err_set(err, HUSH_EIO, "cannot create %s: %s", tmp, strerror(errno));
    }
    ssize_t w = write(fd, data, len);
    int s = fsync(fd);
    close(fd);
    if (w != (ssize_t)len || s != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return hush_err_set(err, HUSH_EIO, "cannot write %s", path);
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* The continuity document (old key -> new key, text in *body) and its line
 * for continuity.jsonl, signed by both keys (*line); both new. */
/* Appends a line to continuity.jsonl, fsynced. */
int hush__keys_append_continuity(hush_collector *h, const char *line, hush_err *err)
{
    char path[HUSH_PATH_MAX + 32];
    int fd = open(continuity_path(h, path, sizeof path),
                  O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    size_t ll = strlen(line);
    bool ok = fd >= 0 && write(fd, line, ll) == (ssize_t)ll && write(fd, "\n", 1) == 1 &&
              fsync(fd) == 0;
    if (fd >= 0) {
        close(fd);
    }
    return ok ? 0 : hush_err_set(err, HUSH_EIO, "cannot append to %s", path);
}

int hush__keys_save_signing(hush_collector *h, const uint8_t seed[32], hush_err *err)
{
    char keypath[HUSH_PATH_MAX + 32];
    snprintf(keypath, sizeof keypath, "%s/signing.key", h->cfg.key_dir);
    return write_atomic(h->cfg.key_dir, keypath, seed, 32, err);
}

void hush__keys_use(hush_collector *h, const uint8_t *pk, const uint8_t *sk)
{
    pthread_mutex_lock(&h->sign_lock);
    memcpy(h->sign_pk, pk, sizeof h->sign_pk);
    memcpy(h->sign_sk, sk, sizeof h->sign_sk);
    pthread_mutex_unlock(&h->sign_lock);
}

int hush__keys_json_rebuild(hush_collector *h, hush_err *err)
{
    return keys_json_build(h, err);
}

int hush__keys_load(hush_collector *h, hush_err *err)
{
    int rc = hush__mkdir_p(h->cfg.key_dir, 0700, err);
    if (rc != 0) {
        return rc;
    }
    char path[HUSH_PATH_MAX + 32];
    uint8_t seed[crypto_sign_SEEDBYTES], fresh[32];
    bool created;
    randombytes_buf(fresh, sizeof fresh);
    snprintf(path, sizeof path, "%s/signing.key", h->cfg.key_dir);
    rc = read_or_create(path, seed, sizeof seed, fresh, &created, err);
    sodium_memzero(fresh, sizeof fresh);
    if (rc != 0) {
        return rc;
    }
    crypto_sign_seed_keypair(h->sign_pk, h->sign_sk, seed);
    sodium_memzero(seed, sizeof seed);
    randombytes_buf(fresh, sizeof fresh);
    snprintf(path, sizeof path, "%s/sealing.key", h->cfg.key_dir);
    rc = read_or_create(path, h->seal_sk, sizeof h->seal_sk, fresh, &created, err);
    sodium_memzero(fresh, sizeof fresh);
    if (rc != 0) {
        return rc;
    }
    crypto_scalarmult_base(h->seal_pk, h->seal_sk);
    /* the anonymous tokens' master secret: every epoch's issuer key is
     * derived from it (tokens.c) */
    randombytes_buf(fresh, sizeof fresh);
    snprintf(path, sizeof path, "%s/token.key", h->cfg.key_dir);
    rc = read_or_create(path, h->token_master, sizeof h->token_master, fresh, &created,
                        err);
    sodium_memzero(fresh, sizeof fresh);
    if (rc != 0) {
        return rc;
    }
    return keys_json_build(h, err);
}

int hush__admin_token_load(hush_collector *h, hush_err *err)
{
    const char *path = h->cfg.admin_token_file;
    char dir[HUSH_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        int rc = hush__mkdir_p(dir, 0700, err);
        if (rc != 0) {
            return rc;
        }
    }
    uint8_t raw[32];
    char fresh[65], token[129];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(fresh, sizeof fresh, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        ssize_t w = write(fd, fresh, 64);
        ssize_t nl = write(fd, "\n", 1);
        int sync_rc = fsync(fd);
        close(fd);
        if (w != 64 || nl != 1 || sync_rc != 0) {
            unlink(path);
            return hush_err_set(err, HUSH_EIO, "cannot write %s", path);
        }
    } else if (errno != EEXIST) {
        return hush_err_set(err, HUSH_EIO, "cannot create %s: %s", path, strerror(errno));
    }
    sodium_memzero(fresh, sizeof fresh);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return hush_err_set(err, HUSH_EIO, "cannot read %s: %s", path, strerror(errno));
    }
    size_t n = fread(token, 1, sizeof token - 1, f);
    fclose(f);
    while (n > 0 &&
           (token[n - 1] == '\n' || token[n - 1] == '\r' || token[n - 1] == ' ')) {
        n--;
    }
    if (n < 16 || n >= sizeof token - 1) {
        sodium_memzero(token, sizeof token);
        return hush_err_set(err, HUSH_EINVAL,
                            "%s must hold one admin token of 16 to 127 characters", path);
    }
    uint8_t hash[crypto_generichash_BYTES];
    crypto_generichash(hash, sizeof hash, (const uint8_t *)token, n, NULL, 0);
    sodium_memzero(token, sizeof token);
    /* (SIGHUP re-reads the file while requests check tokens) */
    pthread_mutex_lock(&h->admin_lock);
    memcpy(h->admin_hash, hash, sizeof hash);
    pthread_mutex_unlock(&h->admin_lock);
    return 0;
}

bool hush__admin_ok(hush_collector *h, const char *authorization)
{
    if (authorization == NULL || strncmp(authorization, "Bearer ", 7) != 0) {
        return false;
    }
    const char *token = authorization + 7;
    uint8_t hash[crypto_generichash_BYTES];
    crypto_generichash(hash, sizeof hash, (const uint8_t *)token, strlen(token), NULL, 0);
    pthread_mutex_lock(&h->admin_lock);
    bool ok = sodium_memcmp(hash, h->admin_hash, sizeof hash) == 0;
    pthread_mutex_unlock(&h->admin_lock);
    return ok;
}
