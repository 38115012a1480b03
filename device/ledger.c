/*
 * ledger.c - the on-device privacy budget ledger.
 *
 * Invariants: the file on disk is never partially written (a temporary file
 * is written, fsynced, renamed over the ledger, and the directory fsynced);
 * it carries an XXH3 checksum, so corruption is detected and fails closed;
 * a state directory that once had a ledger and has lost it fails closed too
 * (a marker file records that the agent was initialised there).  Spending is
 * recorded before any batch leaves the library.
 *
 * Format (text, one record per line, numbers without locale):
 *   hush-ledger 1
 *   day <UTC day number>
 *   device <epsilon as 16 hex digits of its IEEE-754 bits> <reports>
 *   campaign <id> <epsilon bits> <reports>        (zero or more)
 *   checksum <XXH3-64 of every byte before this line, 16 hex digits>
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "device_internal.h"

#define MARKER "agent-initialised"
#define LEDGER_MAX_BYTES (1u << 20)

void hush__ledger_dispose(hush__ledger *l)
{
    hush_free(l->entries);
    l->entries = NULL;
    l->n = l->cap = 0;
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
        l->n = 0;
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

/* The ledger's text (new, hush_free). */
char *hush__ledger_render(const hush__ledger *l, size_t *len)
{
    size_t cap = 128 + l->n * (HUSH__LEDGER_KEY_MAX + 64);
    char *buf = hush_malloc(cap);
    if (buf == NULL) {
        return NULL;
    }
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "hush-ledger 1\nday %" PRId64 "\n", l->day);
    o += (size_t)snprintf(buf + o, cap - o, "device %016" PRIx64 " %" PRIu32 "\n",
                          hush_double_bits(l->device_epsilon), l->device_reports);
    for (size_t i = 0; i < l->n; i++) {
        o += (size_t)snprintf(
            buf + o, cap - o, "campaign %s %016" PRIx64 " %" PRIu32 "\n",
            l->entries[i].campaign, hush_double_bits(l->entries[i].epsilon),
            l->entries[i].reports);
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

static int write_atomically(const hush__ledger *l, hush_err *err)
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
    /* strictly the order render writes: version, day, device, campaigns */
    int line = 0;
    for (char *s = text, *nl; *s != '\0'; s = nl + 1) {
        nl = strchr(s, '\n');
        if (nl == NULL) {
            return corrupt(err, l->path, "malformed");
        }
        *nl = '\0';
        line++;
        char id[HUSH__LEDGER_KEY_MAX + 2];
        uint64_t bits;
        uint32_t reports;
        int64_t day;
        double eps;
        if (line == 1) {
            if (strcmp(s, "hush-ledger 1") != 0) {
                return corrupt(err, l->path, "of an unknown version");
            }
        } else if (line == 2 && sscanf(s, "day %" SCNd64, &day) == 1) {
            l->day = day;
        } else if (line == 3 &&
                   sscanf(s, "device %16" SCNx64 " %" SCNu32, &bits, &reports) == 2 &&
                   (eps = hush_bits_double(bits)) >= 0.0 && isfinite(eps)) {
            l->device_epsilon = eps;
            l->device_reports = reports;
        } else if (line > 3 &&
                   sscanf(s, "campaign %81s %16" SCNx64 " %" SCNu32, id, &bits,
                          &reports) == 3 &&
                   strlen(id) <= HUSH__LEDGER_KEY_MAX &&
                   hush__ledger_find(l, id) == NULL &&
                   (eps = hush_bits_double(bits)) >= 0.0 && isfinite(eps)) {
            if (add_entry(l, id, eps, reports) != 0) {
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

int hush__ledger_open(hush__ledger *l, const char *dir, int64_t now, hush_err *err)
{
    memset(l, 0, sizeof *l);
    if (snprintf(l->dir, sizeof l->dir, "%s", dir) >= (int)sizeof l->dir ||
        snprintf(l->path, sizeof l->path, "%s/ledger", dir) >= (int)sizeof l->path ||
        snprintf(l->tmp, sizeof l->tmp, "%s/ledger.tmp", dir) >= (int)sizeof l->tmp) {
        return hush_err_set(err, HUSH_EINVAL, "state directory path is too long");
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        return hush_err_set(err, HUSH_EIO, "cannot create the state directory %s: %s",
                            dir, strerror(errno));
    }
    char marker[HUSH__STATE_PATH_MAX + 32];
    snprintf(marker, sizeof marker, "%s/" MARKER, dir);
    int fd = open(l->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        if (access(marker, F_OK) == 0) {
            return corrupt(err, l->path, "missing from a state directory that had one");
        }
        l->day = day_of(now);
        int rc = write_atomically(l, err);
        if (rc != 0) {
            return rc;
        }
        int mfd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (mfd < 0 || fsync(mfd) != 0) {
            if (mfd >= 0) {
                close(mfd);
            }
            return hush_err_set(err, HUSH_EIO, "cannot create %s", marker);
        }
        close(mfd);
        return 0;
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
    int rc = strlen(text) != len ? corrupt(err, l->path, "corrupt (NUL bytes)")
                                 : hush__ledger_parse(l, text, len, err);
    hush_free(text);
    if (rc != 0) {
        hush__ledger_dispose(l);
        return rc;
    }
    hush__ledger_roll(l, now);
    if (access(marker, F_OK) != 0) {
        /* a crash between the first ledger and the marker: make it now */
        int mfd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (mfd >= 0) {
            close(mfd);
        }
    }
    return 0;
}

int hush__ledger_charge(hush__ledger *l, const char *campaign, double epsilon,
                        uint32_t reports, hush_err *err)
{
    hush__ledger before = *l;
    hush__ledger_entry saved = {0};
    hush__ledger_entry *e = (hush__ledger_entry *)hush__ledger_find(l, campaign);
    if (e != NULL) {
        saved = *e;
        e->epsilon += epsilon;
        e->reports += reports;
    } else if (add_entry(l, campaign, epsilon, reports) != 0) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory charging the ledger");
    }
    l->device_epsilon += epsilon;
    l->device_reports += reports;
    int rc = write_atomically(l, err);
    if (rc != 0) {
        /* nothing was recorded on disk: undo in memory, hand nothing out */
        if (e != NULL) {
            *e = saved;
        } else {
            l->n--;
        }
        l->device_epsilon = before.device_epsilon;
        l->device_reports = before.device_reports;
    }
    return rc;
}
