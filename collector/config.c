/*
 * config.c - hushd's settings: defaults, command-line flags, config files.
 *
 * Every setting has one name, used as "--name value" on the command line
 * and "name = value" in a config file, and one parser, so the two cannot
 * disagree.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "domain.h"

void hush_collector_config_defaults(hush_collector_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen, sizeof c->listen, "127.0.0.1");
    c->port = 8080;
    snprintf(c->store, sizeof c->store, "sqlite:./var/hush.db");
    snprintf(c->key_dir, sizeof c->key_dir, "./var/keys");
    snprintf(c->admin_token_file, sizeof c->admin_token_file, "./var/admin-token");
    snprintf(c->access_log, sizeof c->access_log, "-");
    c->max_body_bytes = 4u << 20;
    c->connection_limit = 4096;
    c->connection_timeout_s = 30;
    c->request_timeout_s = 30;
    c->connections_per_client = 1024;
    c->threads = 0;
    c->sync_full = true;
    c->checkpoint_interval_s = 30;
    c->poll_interval_s = 1;
    if (gethostname(c->node_id, sizeof c->node_id) != 0 || c->node_id[0] == '\0') {
        snprintf(c->node_id, sizeof c->node_id, "hushd");
    }
    c->node_id[sizeof c->node_id - 1] = '\0';
    for (char *p = c->node_id; *p != '\0'; p++) {
        bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.';
        *p = ok ? *p : '-';
    }
    c->max_batches_per_commit = 4096;
    c->estimates_admin_only = false;
    c->demo = false;
    c->generator_timeout_s = 60;
    c->generator_max_bytes = 16u << 20;
    c->token_epoch_hours = 168;
    c->tokens_per_day = 16;
}

const char *hush_collector_usage(void)
{
    return "usage: hushd [options]\n"
           "  --listen ADDR               address to bind (default 127.0.0.1)\n"
           "  --port N                    port (default 8080; 0 = any free port)\n"
           "  --store sqlite:PATH         where batches and campaigns live\n"
           "                              (default sqlite:./var/hush.db), or\n"
           "  --store postgres://...      a PostgreSQL database (a libpq URI)\n"
           "  --key-dir DIR               signing and sealing keys, created on first "
           "start\n"
           "                              (default ./var/keys)\n"
           "  --admin-token-file FILE     admin bearer token, created if missing\n"
           "                              (default ./var/admin-token)\n"
           "  --access-log FILE|-|off     one line per request (default - = stderr)\n"
           "  --max-body-bytes N          larger request bodies get 413 (default "
           "4194304)\n"
           "  --connection-limit N        concurrent connections (default 4096)\n"
           "  --connection-timeout S      idle connection timeout (default 30)\n"
           "  --request-timeout S         a request's whole head and body, however\n"
           "                              slowly it trickles (default 30)\n"
           "  --connections-per-client N  open connections from one address (default\n"
           "                              1024, 0 = no cap; the address is not kept)\n"
           "  --threads N                 HTTP threads (default: one per core)\n"
           "  --sync full|normal          SQLite durability (default full: fsync per "
           "commit)\n"
           "  --checkpoint-interval S     aggregate checkpoints (default 30)\n"
           "  --node-id ID                this node's id among several on one "
           "PostgreSQL\n"
           "                              store: stable, unique (default: the host "
           "name)\n"
           "  --poll-interval S           how often a node reads what the others "
           "changed\n"
           "                              (default 1)\n"
           "  --max-batches-per-commit N  group commit size cap (default 4096)\n"
           "  --estimates public|admin    who may read estimates (default public)\n"
           "  --demo                      create a demo campaign (with simulated\n"
           "                              reports) if there is none\n"
           "  --ui on|off                 the read-only dashboard at /ui/ (default on)\n"
           "  --token-attestation hmac:FILE|cmd:COMMAND\n"
           "                              how devices prove they are legitimate "
           "installs\n"
           "                              to get anonymous tokens (default: no "
           "issuance)\n"
           "  --token-epoch-hours H       the token key's epoch (default 168)\n"
           "  --tokens-per-day N          tokens one attestation may get a day (default "
           "16)\n"
           "  --cors-origin LIST          origins (scheme://host[:port], "
           "comma-separated,\n"
           "                              or *) whose pages may read the public GET\n"
           "                              routes (default: none)\n"
           "  --generator-cmd CMD         external generator for refinement rounds\n"
           "                              (run with /bin/sh -c; docs/generators.md)\n"
           "  --generator-timeout S       its time limit per round (default 60)\n"
           "  --generator-max-bytes N     its output cap (default 16777216)\n"
           "  --generator-corpus FILE     public texts (JSON lines or plain lines) the\n"
           "                              built-in generator borrows words from\n"
           "  --word-vectors FILE         SIF word-vector table for \"sif\" embedders\n"
           "                              (scripts/fetch-wordvec)\n"
           "  --test-noise-seed N         tests only: replayable federated DP noise\n"
           "                              (predictable noise protects nobody)\n"
           "  --config FILE               read \"name = value\" settings from FILE\n"
           "  --check-config              check the settings and exit (0: fine)\n"
           "  --version                   print the version and exit\n"
           "  --help                      this text\n";
}

static int set_path(char *dst, size_t cap, const char *name, const char *value,
                    hush_err *err)
{
    size_t n = strlen(value);
    if (n >= cap) {
        return hush_err_set(err, HUSH_ERANGE, "%s is longer than %zu bytes", name,
                            cap - 1);
    }
    memcpy(dst, value, n + 1);
    return 0;
}

/* Every setting: its name, what kind of value it takes and where it goes.
 * A flag is one of two words (yes, no), stored as a bool. */
enum kind { TEXT, UINT, SIZE, FLAG };
#define AT(field) \
    offsetof(hush_collector_config, field), sizeof(((hush_collector_config *)0)->field)
static const struct setting {
    const char *name;
    enum kind kind;
    size_t off, size;
    uint64_t min, max;    /* UINT, SIZE */
    const char *yes, *no; /* FLAG */
} settings[] = {
    {"listen", TEXT, AT(listen), 0, 0, NULL, NULL},
    {"key-dir", TEXT, AT(key_dir), 0, 0, NULL, NULL},
    {"admin-token-file", TEXT, AT(admin_token_file), 0, 0, NULL, NULL},
    {"generator-cmd", TEXT, AT(generator_cmd), 0, 0, NULL, NULL},
    {"generator-corpus", TEXT, AT(generator_corpus), 0, 0, NULL, NULL},
    {"word-vectors", TEXT, AT(word_vectors), 0, 0, NULL, NULL},
    {"max-body-bytes", SIZE, AT(max_body_bytes), 1024, 1u << 30, NULL, NULL},
    {"generator-max-bytes", SIZE, AT(generator_max_bytes), 1024, 1u << 30, NULL, NULL},
    {"connection-limit", UINT, AT(connection_limit), 1, 1u << 20, NULL, NULL},
    {"connection-timeout", UINT, AT(connection_timeout_s), 1, 3600, NULL, NULL},
    {"request-timeout", UINT, AT(request_timeout_s), 1, 3600, NULL, NULL},
    {"connections-per-client", UINT, AT(connections_per_client), 0, 1u << 20, NULL, NULL},
    {"threads", UINT, AT(threads), 0, 256, NULL, NULL},
    {"checkpoint-interval", UINT, AT(checkpoint_interval_s), 1, 86400, NULL, NULL},
    {"poll-interval", UINT, AT(poll_interval_s), 1, 3600, NULL, NULL},
    {"max-batches-per-commit", UINT, AT(max_batches_per_commit), 1, 1u << 20, NULL, NULL},
    {"generator-timeout", UINT, AT(generator_timeout_s), 1, 86400, NULL, NULL},
    {"sync", FLAG, AT(sync_full), 0, 0, "full", "normal"},
    {"estimates", FLAG, AT(estimates_admin_only), 0, 0, "admin", "public"},
    {"demo", FLAG, AT(demo), 0, 0, "true", "false"},
    {"ui", FLAG, AT(ui_off), 0, 0, "off", "on"},
    {"token-epoch-hours", UINT, AT(token_epoch_hours), 1, 24 * 366, NULL, NULL},
    {"tokens-per-day", UINT, AT(tokens_per_day), 1, HUSH_VOPRF_BATCH_MAX, NULL, NULL},
};
#undef AT

static int set_one(hush_collector_config *c, const struct setting *st, const char *value,
                   hush_err *err)
{
    char *dst = (char *)c + st->off;
    uint64_t v;
    int rc = 0;
    switch (st->kind) {
    case TEXT:
        return set_path(dst, st->size, st->name, value, err);
    case UINT:
    case SIZE:
        rc = hush_parse_u64(value, st->min, st->max, st->name, &v, err);
        if (rc == 0 && st->kind == UINT) {
            *(unsigned *)(void *)dst = (unsigned)v;
        } else if (rc == 0) {
            *(size_t *)(void *)dst = (size_t)v;
        }
        return rc;
    case FLAG:
        if (strcmp(value, st->yes) != 0 && strcmp(value, st->no) != 0) {
            return hush_err_set(err, HUSH_EINVAL, "%s must be %s or %s (got \"%s\")",
                                st->name, st->yes, st->no, value);
        }
        *(bool *)(void *)dst = strcmp(value, st->yes) == 0;
        return 0;
    }
    return hush_err_set(err, HUSH_EINVAL, "unknown setting \"%s\"", st->name);
}

/* --cors-origin: "*", or origins "scheme://host[:port]" (http or https, no
 * path, no credentials, no spaces inside), comma-separated. */
static int set_cors(hush_collector_config *c, const char *value, hush_err *err)
{
    const char *p = value;
    while (*p != '\0') {
        while (*p == ',' || *p == ' ') {
            p++;
        }
        size_t n = strcspn(p, ", ");
        if (n == 0) {
            break;
        }
        bool any = n == 1 && *p == '*';
        size_t scheme = strncmp(p, "https://", 8) == 0  ? 8
                        : strncmp(p, "http://", 7) == 0 ? 7
                                                        : 0;
        bool clean = scheme > 0 && n > scheme;
        for (size_t i = scheme; clean && i < n; i++) {
            clean = strchr("/@?#\\", p[i]) == NULL;
        }
        if (!any && !clean) {
            return hush_err_set(
                err, HUSH_EINVAL,
                "cors-origin must be * or origins like "
                "https://dash.example:8443, comma-separated (got \"%.*s\")",
                (int)n, p);
        }
        p += n;
    }
    return set_path(c->cors_origin, sizeof c->cors_origin, "cors-origin", value, err);
}

int hush_collector_config_set(hush_collector_config *c, const char *name,
                              const char *value, hush_err *err)
{
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        if (strcmp(name, settings[i].name) == 0) {
            return set_one(c, &settings[i], value, err);
        }
    }
    if (strcmp(name, "cors-origin") == 0) {
        return set_cors(c, value, err);
    }
    if (strcmp(name, "token-attestation") == 0) {
        bool ok = value[0] == '\0' ||
                  (strncmp(value, "hmac:", 5) == 0 && value[5] != '\0') ||
                  (strncmp(value, "cmd:", 4) == 0 && value[4] != '\0');
        return ok ? set_path(c->token_attestation, sizeof c->token_attestation,
                             "token-attestation", value, err)
                  : hush_err_set(
                        err, HUSH_EINVAL,
                        "token-attestation must be hmac:FILE or cmd:COMMAND (got "
                        "\"%s\")",
                        value);
    }
    if (strcmp(name, "port") == 0) {
        uint64_t v;
        int rc = hush_parse_u64(value, 0, 65535, "port", &v, err);
        c->port = rc == 0 ? (uint16_t)v : c->port;
        return rc;
    }
    if (strcmp(name, "store") == 0) {
        bool pg = strncmp(value, "postgres://", 11) == 0 ||
                  strncmp(value, "postgresql://", 13) == 0;
        if (!pg && (strncmp(value, "sqlite:", 7) != 0 || value[7] == '\0')) {
            return hush_err_set(
                err, HUSH_EINVAL,
                "store must be sqlite:PATH or postgres://... (a libpq URI; "
                "got \"%s\")",
                value);
        }
        return set_path(c->store, sizeof c->store, name, value, err);
    }
    if (strcmp(name, "node-id") == 0) {
        size_t n = strlen(value);
        bool ok = n > 0 && n < sizeof c->node_id;
        for (size_t i = 0; ok && i < n; i++) {
            char ch = value[i];
            ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                 (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.';
        }
        if (!ok) {
            return hush_err_set(err, HUSH_EINVAL,
                                "node-id must be 1 to %zu letters, digits, '-', '_' or "
                                "'.' (got \"%s\")",
                                sizeof c->node_id - 1, value);
        }
        memcpy(c->node_id, value, n + 1);
        return 0;
    }
    if (strcmp(name, "access-log") == 0) {
        return set_path(c->access_log, sizeof c->access_log, name,
                        strcmp(value, "off") == 0 ? "" : value, err);
    }
    if (strcmp(name, "test-noise-seed") == 0) {
        int rc = hush_parse_u64(value, 0, UINT64_MAX, name, &c->test_noise_seed, err);
        c->has_test_noise_seed = rc == 0;
        return rc;
    }
    return hush_err_set(err, HUSH_EINVAL, "unknown setting \"%s\"", name);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' ||
                     s[n - 1] == '\r')) {
        s[--n] = '\0';
    }
    return s;
}

static int load_file(hush_collector_config *c, const char *path, hush_err *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return hush_err_set(err, HUSH_EIO, "cannot open config file %s: %s", path,
                            strerror(errno));
    }
    char line[2048];
    int line_no = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
        line_no++;
        char *s = trim(line);
        if (*s == '\0' || *s == '#') {
            continue;
        }
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            rc = hush_err_set(err, HUSH_EINVAL, "%s:%d: expected \"name = value\"", path,
                              line_no);
            break;
        }
        *eq = '\0';
        hush_err local = {0};
        rc = hush_collector_config_set(c, trim(s), trim(eq + 1), &local);
        if (rc != 0) {
            hush_err_set(err, rc, "%s:%d: %s", path, line_no, local.msg);
        }
    }
    fclose(f);
    return rc;
}

int hush_collector_config_args(hush_collector_config *c, int argc, char **argv,
                               bool *help, hush_err *err)
{
    *help = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *help = true;
            return 0;
        }
        if (strcmp(a, "--demo") == 0) {
            c->demo = true;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            return hush_err_set(err, HUSH_EINVAL, "unexpected argument \"%s\"", a);
        }
        const char *name = a + 2;
        const char *value = strchr(name, '=');
        char buf[64];
        if (value != NULL) {
            size_t n = (size_t)(value - name);
            if (n >= sizeof buf) {
                return hush_err_set(err, HUSH_EINVAL, "unknown option %s", a);
            }
            memcpy(buf, name, n);
            buf[n] = '\0';
            name = buf;
            value++;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            return hush_err_set(err, HUSH_EINVAL, "%s needs a value", a);
        }
        int rc = strcmp(name, "config") == 0
                     ? load_file(c, value, err)
                     : hush_collector_config_set(c, name, value, err);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* The directory of a file path exists, or its nearest existing ancestor is
 * writable (so that hushd can make it). */
static int dir_ok(const char *what, const char *path, bool is_dir, hush_err *err)
{
    char dir[HUSH_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    if (!is_dir) {
        char *slash = strrchr(dir, '/');
        if (slash == NULL) {
            snprintf(dir, sizeof dir, ".");
        } else if (slash == dir) {
            dir[1] = '\0';
        } else {
            *slash = '\0';
        }
    }
    for (;;) {
        struct stat st;
        if (stat(dir, &st) == 0) {
            if (!S_ISDIR(st.st_mode)) {
                return hush_err_set(err, HUSH_EINVAL, "%s: %s is not a directory", what,
                                    dir);
            }
            if (access(dir, W_OK | X_OK) != 0) {
                return hush_err_set(err, HUSH_EIO, "%s: cannot write in %s", what, dir);
            }
            return 0;
        }
        char *slash = strrchr(dir, '/');
        if (slash == NULL) {
            snprintf(dir, sizeof dir, ".");
        } else if (slash == dir) {
            dir[1] = '\0';
        } else {
            *slash = '\0';
        }
    }
}

int hush_collector_config_check(const hush_collector_config *c, hush_err *err)
{
    unsigned char addr[16];
    if (inet_pton(strchr(c->listen, ':') != NULL ? AF_INET6 : AF_INET, c->listen, addr) !=
        1) {
        return hush_err_set(err, HUSH_EINVAL, "listen: \"%s\" is not an IP address",
                            c->listen);
    }
    int rc;
    if ((strncmp(c->store, "sqlite:", 7) == 0 &&
         (rc = dir_ok("store", c->store + strlen("sqlite:"), false, err)) != 0) ||
        (rc = dir_ok("key-dir", c->key_dir, true, err)) != 0 ||
        (rc = dir_ok("admin-token-file", c->admin_token_file, false, err)) != 0) {
        return rc;
    }
    if (c->access_log[0] != '\0' && strcmp(c->access_log, "-") != 0 &&
        (rc = dir_ok("access-log", c->access_log, false, err)) != 0) {
        return rc;
    }
    if (c->generator_corpus[0] != '\0' && access(c->generator_corpus, R_OK) != 0) {
        return hush_err_set(err, HUSH_EIO, "generator-corpus: cannot read %s: %s",
                            c->generator_corpus, strerror(errno));
    }
    if (c->word_vectors[0] != '\0') {
        hush_wordvec *w = NULL;
        if ((rc = hush_wordvec_load(c->word_vectors, &w, err)) != 0) {
            return rc;
        }
        hush_wordvec_free(w);
    }
    FILE *f = fopen(c->admin_token_file, "r");
    if (f != NULL) {
        char tok[130];
        size_t n = fread(tok, 1, sizeof tok - 1, f);
        fclose(f);
        while (n > 0 && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' ')) {
            n--;
        }
        if (n < 16 || n > 127) {
            return hush_err_set(err, HUSH_EINVAL,
                                "admin-token-file: %s must hold one token of 16 to 127 "
                                "characters",
                                c->admin_token_file);
        }
    }
    return 0;
}
