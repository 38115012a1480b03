/*
 * ledger.c - the on-device privacy budget ledger, the state directory's
 * lock, and the device secret.
 *
 * Invariants: the file on disk is never partially written (a temporary file
 * is written, fsynced, renamed over the ledger, and the directory fsynced);
 * it carries an XXH3 checksum, so corruption is detected and fails closed;
 * a state directory that once had a ledger and has lost it fails closed too
 * (a marker file records that the agent was initialised there).  Spending is
 * recorded before any batch leaves the library.  Every check-then-charge runs
 * under an exclusive flock of the directory's lock file with the ledger
 * re-read from disk, so two processes (an app and its extension) or two
 * agents on one directory cannot both spend the same budget.
 *
 * Format (text, one record per line, numbers without locale):
 *   hush-ledger 3
 *   day <UTC day number>
 *   device <epsilon as 16 hex digits of its IEEE-754 bits> <reports>
 *   campaign <id> <epsilon bits> <reports>        (zero or more; today's)
 *   round <id> <highest round accepted> <last round sent, 0 = none>
 *         <rounds sent for>                       (zero or more; kept for good)
 *   checksum <XXH3-64 of every byte before this line, 16 hex digits>
 * Version 1 files (no round records) and version 2 files (no count of the
 * rounds sent for: taken as 1 if a round was sent, which only tasks
 * without secure aggregation, which cap no participations, can have done)
 * are read and rewritten as version 3.
 *
 * The device secret (32 random bytes in `device-secret`, mode 0600) keys the
 * participation coin of federated rounds; it never leaves the device.  It is
 * made with the first ledger; missing or damaged later, it fails closed like
 * the ledger (a new secret would draw every coin again).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "device_internal.h"

#define MARKER "agent-initialised"
#define LOCK_FILE "lock"
#define SECRET_FILE "device-secret"
#define LEDGER_MAX_BYTES (1u << 20)
#define LEDGER_VERSION 3u

void hush__ledger_dispose(hush__ledger *l)
{
    hush_free(l->entries);
    hush_free(l->rounds);
    l->entries = NULL;
    l->rounds = NULL;
    l->n = l->cap = 0;
    l->n_rounds = l->cap_rounds = 0;
    if (l->lock_fd > 0) {
        close(l->lock_fd); /* releases the lock too */
    }
    l->lock_fd = -1;
    l->locked = false;
}

static int64_t day_of(int64_t now)
{
    return now >= 0 ? now / 86400 : -((-now + 86399) / 86400);
}

void hush__ledger_roll(hush__ledger *l, int64_t now)
{
    int64_t day = day_of(now);
    if (day > l->day) {
        l->day = day;
        l->device_epsilon = 0.0;
        l->device_reports = 0;
        l->n = 0; /* today's spending only: round records stay */
    }
}

const hush__ledger_entry *hush__ledger_find(const hush__ledger *l, const char *campaign)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->entries[i].campaign, campaign) == 0) {
            return &l->entries[i];
        }
    }
    return NULL;
}

const hush__ledger_round *hush__ledger_round_find(const hush__ledger *l, const char *key)
{
    for (size_t i = 0; i < l->n_rounds; i++) {
        if (strcmp(l->rounds[i].key, key) == 0) {
            return &l->rounds[i];
        }
    }
    return NULL;
}

/* The ledger's text (new, hush_free). */
char *hush__ledger_render(const hush__ledger *l, size_t *len)
{
    size_t cap = 128 + (l->n + l->n_rounds) * (HUSH__LEDGER_KEY_MAX + 64);
    char *buf = hush_malloc(cap);
    if (buf == NULL) {
        return NULL;
    }
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "hush-ledger %u\nday %" PRId64 "\n",
                          LEDGER_VERSION, l->day);
    o += (size_t)snprintf(buf + o, cap - o, "device %016" PRIx64 " %" PRIu32 "\n",
                          hush_double_bits(l->device_epsilon), l->device_reports);
    for (size_t i = 0; i < l->n; i++) {
        o += (size_t)snprintf(
            buf + o, cap - o, "campaign %s %016" PRIx64 " %" PRIu32 "\n",
            l->entries[i].campaign, hush_double_bits(l->entries[i].epsilon),
            l->entries[i].reports);
    }
    for (size_t i = 0; i < l->n_rounds; i++) {
        o += (size_t)snprintf(
            buf + o, cap - o, "round %s %" PRIu32 " %" PRIu32 " %" PRIu32 "\n",
            l->rounds[i].key, l->rounds[i].seen, l->rounds[i].sent, l->rounds[i].count);
    }
    o += (size_t)snprintf(buf + o, cap - o, "checksum %016" PRIx64 "\n",
                          XXH3_64bits(buf, o));
    *len = o;
    return buf;
}

int hush__write_atomic(const char *dir, const char *path, const char *tmp,
                       const void *data, size_t len, hush_err *err)
{
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return hush_err_set(err, HUSH_EIO, "cannot create %s: %s", tmp, strerror(errno));
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, (const char *)data + off, len - off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            rc = hush_err_set(err, HUSH_EIO, "cannot write %s: %s", tmp, strerror(errno));
            break;
        }
        off += (size_t)w;
    }
    if (rc == 0 && fsync(fd) != 0) {
        rc = hush_err_set(err, HUSH_EIO, "cannot sync %s: %s", tmp, strerror(errno));
    }
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = hush_err_set(err, HUSH_EIO, "cannot rename %s: %s", tmp, strerror(errno));
    }
    if (rc == 0) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            if (fsync(dfd) != 0) {
                rc = hush_err_set(err, HUSH_EIO, "cannot sync %s", dir);
            }
            close(dfd);
        }
    }
    if (rc != 0) {
        unlink(tmp);
    }
    return rc;
}

int hush__ledger_save(hush__ledger *l, hush_err *err)
{
    size_t len = 0;
    char *text = hush__ledger_render(l, &len);
    if (text == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory writing the ledger");
    }
    hush_err local = {0};
    int rc = hush__write_atomic(l->dir, l->path, l->tmp, text, len, &local);
    if (rc != 0) {
        hush_err_set(err, rc, "ledger: %s", local.msg);
    }
    hush_free(text);
    return rc;
}

static int corrupt(hush_err *err, const char *path, const char *why)
{
    return hush_err_set(
        err, HUSH_ECORRUPT,
        "the privacy budget ledger %s is %s; no reports until it is repaired "
        "(the agent fails closed)",
        path, why);
}

static int add_entry(hush__ledger *l, const char *campaign, double eps, uint32_t reports)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        hush__ledger_entry *e = hush_realloc(l->entries, cap * sizeof *e);
        if (e == NULL) {
            return HUSH_ENOMEM;
        }
        l->entries = e;
        l->cap = cap;
    }
    hush__ledger_entry *e = &l->entries[l->n++];
    snprintf(e->campaign, sizeof e->campaign, "%s", campaign);
    e->epsilon = eps;
    e->reports = reports;
    return 0;
}

static int add_round(hush__ledger *l, const char *key, uint32_t seen, uint32_t sent,
                     uint32_t count)
{
    if (l->n_rounds == l->cap_rounds) {
        size_t cap = l->cap_rounds ? l->cap_rounds * 2 : 8;
        hush__ledger_round *r = hush_realloc(l->rounds, cap * sizeof *r);
        if (r == NULL) {
            return HUSH_ENOMEM;
        }
        l->rounds = r;
        l->cap_rounds = cap;
    }
    hush__ledger_round *r = &l->rounds[l->n_rounds++];
    snprintf(r->key, sizeof r->key, "%s", key);
    r->seen = seen;
    r->sent = sent;
    r->count = count;
    return 0;
}

int hush__ledger_note_round(hush__ledger *l, const char *key, uint32_t seen,
                            uint32_t sent, bool *changed)
{
    hush__ledger_round *r = (hush__ledger_round *)hush__ledger_round_find(l, key);
    *changed = false;
    if (r == NULL) {
        if (l->n_rounds >= HUSH__LEDGER_ROUNDS_MAX) {
            return HUSH_ETOOBIG;
        }
        if (add_round(l, key, seen > sent ? seen : sent, sent, sent != 0) != 0) {
            return HUSH_ENOMEM;
        }
        *changed = true;
        return 0;
    }
    if (seen > r->seen) {
        r->seen = seen;
        *changed = true;
    }
    if (sent != 0 && sent != r->sent) {
        r->sent = sent;
        r->count++;
        r->seen = sent > r->seen ? sent : r->seen;
        *changed = true;
    }
    return 0;
}

/* A round record of the file's version: id, seen, sent and (version 3) the
 * count of rounds sent for, at least 1 once a round was sent. */
static bool round_line(const hush__ledger *l, const char *s, char *id, uint32_t *seen,
                       uint32_t *sent, uint32_t *count)
{
    int used = 0;
    bool ok = l->version == 2
                  ? sscanf(s, "round %81s %" SCNu32 " %" SCNu32 "%n", id, seen, sent,
                           &used) == 3
                  : sscanf(s, "round %81s %" SCNu32 " %" SCNu32 " %" SCNu32 "%n", id,
                           seen, sent, count, &used) == 4;
    if (ok && l->version == 2) {
        *count = *sent != 0;
    }
    return ok && s[used] == '\0' && strlen(id) <= HUSH__LEDGER_KEY_MAX &&
           hush__ledger_round_find(l, id) == NULL && *sent <= *seen &&
           (*count > 0) == (*sent > 0) && l->n_rounds < HUSH__LEDGER_ROUNDS_MAX;
}

int hush__ledger_parse(hush__ledger *l, char *text, size_t len, hush_err *err)
{
    /* the last line, exactly: "checksum " + 16 hex digits + "\n" */
    enum { SUM_LINE = 9 + 16 + 1 };
    char *sum = len >= SUM_LINE ? text + len - SUM_LINE : NULL;
    uint64_t want = 0;
    int end = 0;
    if (sum == NULL || (sum != text && sum[-1] != '\n') || text[len - 1] != '\n' ||
        sscanf(sum, "checksum %16" SCNx64 "%n", &want, &end) != 1 ||
        end != SUM_LINE - 1 || XXH3_64bits(text, (size_t)(sum - text)) != want) {
        return corrupt(err, l->path, "corrupt (checksum)");
    }
    *sum = '\0';
    /* strictly the order render writes: version, day, device, campaigns,
     * rounds */
    int line = 0;
    bool in_rounds = false;
    for (char *s = text, *nl; *s != '\0'; s = nl + 1) {
        nl = strchr(s, '\n');
        if (nl == NULL) {
            return corrupt(err, l->path, "malformed");
        }
        *nl = '\0';
        line++;
        char id[HUSH__LEDGER_KEY_MAX + 2];
        uint64_t bits;
        uint32_t reports, seen, sent, count;
        int64_t day;
        double eps;
        if (line == 1) {
            if (strcmp(s, "hush-ledger 1") == 0) {
                l->version = 1;
            } else if (strcmp(s, "hush-ledger 2") == 0) {
                l->version = 2;
            } else if (strcmp(s, "hush-ledger 3") == 0) {
                l->version = 3;
            } else {
                return corrupt(err, l->path, "of an unknown version");
            }
        } else if (line == 2 && sscanf(s, "day %" SCNd64, &day) == 1) {
            l->day = day;
        } else if (line == 3 &&
                   sscanf(s, "device %16" SCNx64 " %" SCNu32, &bits, &reports) == 2 &&
                   (eps = hush_bits_double(bits)) >= 0.0 && isfinite(eps)) {
            l->device_epsilon = eps;
            l->device_reports = reports;
        } else if (line > 3 && !in_rounds &&
                   sscanf(s, "campaign %81s %16" SCNx64 " %" SCNu32, id, &bits,
                          &reports) == 3 &&
                   strlen(id) <= HUSH__LEDGER_KEY_MAX &&
                   hush__ledger_find(l, id) == NULL &&
                   (eps = hush_bits_double(bits)) >= 0.0 && isfinite(eps)) {
            if (add_entry(l, id, eps, reports) != 0) {
                return hush_err_set(err, HUSH_ENOMEM, "out of memory reading the ledger");
            }
        } else if (line > 3 && l->version >= 2 &&
                   round_line(l, s, id, &seen, &sent, &count)) {
            in_rounds = true;
            if (add_round(l, id, seen, sent, count) != 0) {
                return hush_err_set(err, HUSH_ENOMEM, "out of memory reading the ledger");
            }
        } else {
            return corrupt(err, l->path, "malformed");
        }
    }
    if (line < 3) {
        return corrupt(err, l->path, "malformed");
    }
    return 0;
}

/* Reads and parses the ledger file into `l` (whose records are dropped
 * first).  HUSH_ENOTFOUND if there is no file. */
static int load_file(hush__ledger *l, hush_err *err)
{
    int fd = open(l->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        return HUSH_ENOTFOUND;
    }
    if (fd < 0) {
        return hush_err_set(err, HUSH_EIO, "cannot open the ledger %s: %s", l->path,
                            strerror(errno));
    }
    char *text = hush_malloc(LEDGER_MAX_BYTES + 1);
    if (text == NULL) {
        close(fd);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory reading the ledger");
    }
    size_t len = 0;
    ssize_t r;
    while (len < LEDGER_MAX_BYTES &&
           (r = read(fd, text + len, LEDGER_MAX_BYTES - len)) > 0) {
        len += (size_t)r;
    }
    close(fd);
    text[len] = '\0';
    l->n = 0;
    l->n_rounds = 0;
    l->day = 0;
    l->device_epsilon = 0;
    l->device_reports = 0;
    int rc = strlen(text) != len ? corrupt(err, l->path, "corrupt (NUL bytes)")
                                 : hush__ledger_parse(l, text, len, err);
    hush_free(text);
    return rc;
}

/* Loads the device secret, or makes one when `create` (a new state
 * directory, or one written by a version that had none). */
static int load_secret(const hush__ledger *l, bool create, hush_rng *rng,
                       uint8_t secret[HUSH__SECRET_BYTES], hush_err *err)
{
    char path[HUSH__STATE_PATH_MAX + 32], tmp[HUSH__STATE_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/" SECRET_FILE, l->dir);
    snprintf(tmp, sizeof tmp, "%s/" SECRET_FILE ".tmp", l->dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
        hush_rng_bytes(rng, secret, HUSH__SECRET_BYTES);
        return hush__write_atomic(l->dir, path, tmp, secret, HUSH__SECRET_BYTES, err);
    }
    if (fd < 0) {
        return hush_err_set(err, errno == ENOENT ? HUSH_ECORRUPT : HUSH_EIO,
                            "the device secret %s is %s; the agent fails closed", path,
                            errno == ENOENT ? "missing" : "unreadable");
    }
    uint8_t buf[HUSH__SECRET_BYTES + 1];
    ssize_t got = read(fd, buf, sizeof buf);
    close(fd);
    int rc = 0;
    if (got != HUSH__SECRET_BYTES) {
        rc =
            hush_err_set(err, HUSH_ECORRUPT,
                         "the device secret %s is damaged; the agent fails closed", path);
    } else {
        memcpy(secret, buf, HUSH__SECRET_BYTES);
    }
    sodium_memzero(buf, sizeof buf);
    return rc;
}

/* An exclusive flock of the directory's lock file, retried on EINTR. */
static int lock_exclusive(const hush__ledger *l, hush_err *err)
{
    while (flock(l->lock_fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            return hush_err_set(err, HUSH_EIO, "cannot lock the state directory %s: %s",
                                l->dir, strerror(errno));
        }
    }
    return 0;
}

int hush__ledger_lock(hush__ledger *l, int64_t now, hush_err *err)
{
    if (l->locked) {
        return 0;
    }
    if (lock_exclusive(l, err) != 0) {
        return HUSH_EIO;
    }
    int rc = load_file(l, err);
    if (rc == HUSH_ENOTFOUND) {
        rc = corrupt(err, l->path, "missing from a state directory that had one");
    }
    if (rc != 0) {
        flock(l->lock_fd, LOCK_UN);
        return rc;
    }
    hush__ledger_roll(l, now);
    l->locked = true;
    return 0;
}

void hush__ledger_unlock(hush__ledger *l)
{
    if (l->locked) {
        flock(l->lock_fd, LOCK_UN);
        l->locked = false;
    }
}

int hush__ledger_open(hush__ledger *l, const char *dir, int64_t now, hush_rng *rng,
                      uint8_t secret[HUSH__SECRET_BYTES], hush_err *err)
{
    memset(l, 0, sizeof *l);
    l->lock_fd = -1;
    if (snprintf(l->dir, sizeof l->dir, "%s", dir) >= (int)sizeof l->dir ||
        snprintf(l->path, sizeof l->path, "%s/ledger", dir) >= (int)sizeof l->path ||
        snprintf(l->tmp, sizeof l->tmp, "%s/ledger.tmp", dir) >= (int)sizeof l->tmp) {
        return hush_err_set(err, HUSH_EINVAL, "state directory path is too long");
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        return hush_err_set(err, HUSH_EIO, "cannot create the state directory %s: %s",
                            dir, strerror(errno));
    }
    char marker[HUSH__STATE_PATH_MAX + 32], lock[HUSH__STATE_PATH_MAX + 32];
    snprintf(marker, sizeof marker, "%s/" MARKER, dir);
    snprintf(lock, sizeof lock, "%s/" LOCK_FILE, dir);
    l->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (l->lock_fd < 0) {
        return hush_err_set(err, HUSH_EIO, "cannot open %s: %s", lock, strerror(errno));
    }
    if (lock_exclusive(l, err) != 0) {
        return HUSH_EIO;
    }
    int rc = load_file(l, err);
    if (rc == HUSH_ENOTFOUND) {
        rc = 0;
        if (access(marker, F_OK) == 0) {
            rc = corrupt(err, l->path, "missing from a state directory that had one");
        }
        /* a new state directory: secret, ledger, then the marker */
        l->day = day_of(now);
        l->version = LEDGER_VERSION;
        if (rc == 0) {
            rc = load_secret(l, true, rng, secret, err);
        }
        if (rc == 0) {
            rc = hush__ledger_save(l, err);
        }
        if (rc == 0) {
            int mfd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
            if (mfd < 0 || fsync(mfd) != 0) {
                rc = hush_err_set(err, HUSH_EIO, "cannot create %s", marker);
            }
            if (mfd >= 0) {
                close(mfd);
            }
        }
    } else if (rc == 0) {
        /* a version 1 directory predates the secret: it gets one now */
        rc = load_secret(l, l->version < 2, rng, secret, err);
        hush__ledger_roll(l, now);
        if (rc == 0 && access(marker, F_OK) != 0) {
            /* a crash between the first ledger and the marker: make it now */
            int mfd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
            if (mfd >= 0) {
                close(mfd);
            }
        }
    }
    flock(l->lock_fd, LOCK_UN);
    if (rc != 0) {
        sodium_memzero(secret, HUSH__SECRET_BYTES);
        hush__ledger_dispose(l);
    }
    return rc;
}

int hush__ledger_charge(hush__ledger *l, const char *campaign, double epsilon,
                        uint32_t reports, uint32_t round_sent, hush_err *err)
{
    hush__ledger_entry *e = (hush__ledger_entry *)hush__ledger_find(l, campaign);
    bool changed = false;
    int rc = 0;
    if (e != NULL) {
        e->epsilon += epsilon;
        e->reports += reports;
    } else if (add_entry(l, campaign, epsilon, reports) != 0) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory charging the ledger");
    }
    if (rc == 0 && round_sent != 0 &&
        (rc = hush__ledger_note_round(l, campaign, round_sent, round_sent, &changed)) !=
            0) {
        hush_err_set(err, rc, "cannot record round %u in the ledger", round_sent);
    }
    if (rc == 0) {
        l->device_epsilon += epsilon;
        l->device_reports += reports;
        rc = hush__ledger_save(l, err);
    }
    if (rc != 0) {
        /* nothing was recorded on disk, and nothing is handed out: the ledger
         * in memory goes back to what the file says (charges run under the
         * lock, so the file is what it was when the lock re-read it) */
        int64_t day = l->day;
        if (load_file(l, NULL) != 0) {
            l->n = l->n_rounds = 0; /* the next lock re-reads it anyway */
        }
        hush__ledger_roll(l, day * 86400);
    }
    return rc;
}
