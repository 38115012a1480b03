/*
 * fl_memory.c - a device's peak memory for one federated training round,
 * with and without the app's memory budget (hush_train_budget.
 * max_memory_bytes), for MLPs over the default embedding (dim 256).
 *
 *   build/bench/fl-memory [--hidden 64,1024] [--examples 50] [--runs 3]
 *                         [--corpus data/spamassassin.jsonl]
 *
 * Each measurement is a fresh process (fork): it opens an agent, adds the
 * examples (the corpus's first emails), accepts a signed publication of a
 * DP task (lattice upload, as hushd publishes it), drops the publication's
 * text, then resets the kernel's high-water mark (/proc/self/clear_refs,
 * 5) and runs hush_agent_train_round.  It reports the RSS before the round
 * and the peak during it (VmHWM), so a row separates what the round itself
 * costs from what the process held before.  The budget is the head-only
 * estimate plus one byte (the smallest that lets the round run).  Medians
 * over --runs; one JSON object per line.
 */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "corpus.h"
#include "hush_device.h"
#include "hush_embed.h"
#include "hush_learning.h"
#include "hush_protocol.h"

/* VmRSS or VmHWM of this process, in kB. */
static long status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    size_t n = strlen(field);
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            kb = strtol(line + n + 1, NULL, 10);
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return kb;
}

/* A signed publication of an MLP task over the default embedder. */
static char *publication(uint32_t hidden, const uint8_t sk[64], char **signature)
{
    hush_embedder *e = NULL;
    char *desc = NULL, *w = NULL;
    if (hush_embedder_new_default(256, 1, &e, NULL) != 0 ||
        hush_embedder_describe(e, &desc, NULL) != 0) {
        return NULL;
    }
    hush_model_spec spec = {
        .kind = HUSH_MODEL_MLP, .inputs = 256, .classes = 2, .hidden = hidden};
    hush_model *m = NULL;
    if (hush_model_new(&spec, 1, &m, NULL) != 0 ||
        hush_model_to_base64(m, &w, NULL) != 0) {
        return NULL;
    }
    double step = hush_fedavg_lattice_step(0.889, 2.0, hush_model_size(m));
    json_t *doc =
        json_pack("{s:s, s:i, s:s, s:{s:s, s:i, s:i, s:i}, s:[s, s], s:o, s:f, s:b, s:f, "
                  "s:{s:i, s:i, s:f}, s:s, s:{s:s, s:i, s:f}, s:s, s:s}",
                  "model", "spam", "round", 1, "name", "Spam", "architecture", "kind",
                  "mlp", "inputs", 256, "classes", 2, "hidden", (int)hidden, "labels",
                  "ham", "spam", "embedder", json_loads(desc, 0, NULL), "clip_norm", 2.0,
                  "adaptive_clipping", false, "sampling_rate", 1.0, "local", "epochs", 10,
                  "batch", 8, "lr", 0.3, "personalization", "none", "upload", "encoding",
                  "lattice", "shift", 0, "step", step, "state", "running", "weights", w);
    char *body = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17));
    uint8_t sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const uint8_t *)body, strlen(body), sk);
    *signature = hush_b64_encode(sig, sizeof sig);
    json_decref(doc);
    hush_free(w);
    hush_free(desc);
    hush_model_free(m);
    hush_embedder_free(e);
    return body;
}

typedef struct measured {
    long rss_kb, peak_kb;
    int rc;
} measured;

/* One round in this process: RSS before it and its peak. */
static measured one_round(const corpus *c, size_t examples, uint32_t hidden,
                          size_t budget)
{
    measured out = {-1, -1, -1};
    uint8_t pk[32], sk[64], seed[32] = {7};
    crypto_sign_seed_keypair(pk, sk, seed);
    char dir[] = "/tmp/hush-fl-memory-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        return out;
    }
    hush_agent_config cfg = {.state_dir = dir, .max_sample_bytes = 1u << 20};
    memcpy(cfg.collector_key, pk, 32);
    hush_agent *a = NULL;
    hush_fl_model *m = NULL;
    char *sig = NULL, *body = publication(hidden, sk, &sig);
    if (body == NULL || hush_agent_open(&cfg, &a, NULL) != 0) {
        return out;
    }
    for (size_t i = 0; i < examples && i < c->n; i++) {
        if (hush_agent_add_example(a, c->text[i], c->len[i], (uint32_t)c->spam[i],
                                   NULL) != 0) {
            return out;
        }
    }
    if (hush_agent_accept_model(a, "spam", body, strlen(body), sig, &m, NULL) != 0) {
        return out;
    }
    free(body);
    hush_free(sig);
    FILE *cr = fopen("/proc/self/clear_refs", "w");
    if (cr != NULL) {
        fputs("5", cr); /* the high-water mark starts again from here */
        fclose(cr);
    }
    out.rss_kb = status_kb("VmRSS");
    char *doc = NULL;
    size_t len = 0;
    hush_train_budget tb = {.max_memory_bytes = budget};
    hush_err err = {0};
    out.rc = hush_agent_train_round(a, m, &tb, &doc, &len, &err);
    out.peak_kb = status_kb("VmHWM");
    if (out.rc != 0) {
        fprintf(stderr, "fl-memory: %s\n", err.msg);
    }
    hush_free(doc);
    hush_fl_model_free(m);
    hush_agent_close(a);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    (void)system(cmd);
    return out;
}

/* one_round in a child process, its figures through a pipe */
static measured in_child(const corpus *c, size_t examples, uint32_t hidden, size_t budget)
{
    measured out = {-1, -1, -1};
    int fd[2];
    if (pipe(fd) != 0) {
        return out;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        measured m = one_round(c, examples, hidden, budget);
        ssize_t w = write(fd[1], &m, sizeof m);
        _exit(w == (ssize_t)sizeof m ? 0 : 1);
    }
    close(fd[1]);
    if (pid < 0 || read(fd[0], &out, sizeof out) != (ssize_t)sizeof out) {
        out = (measured){-1, -1, -1};
    }
    close(fd[0]);
    waitpid(pid, NULL, 0);
    return out;
}

static int by_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static long median(long *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, by_long);
    return v[n / 2];
}

int main(int argc, char **argv)
{
    const char *path = "data/spamassassin.jsonl", *hiddens = "64,1024";
    size_t examples = 50;
    int runs = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--corpus") == 0) {
            path = argv[i + 1];
        } else if (strcmp(argv[i], "--hidden") == 0) {
            hiddens = argv[i + 1];
        } else if (strcmp(argv[i], "--examples") == 0) {
            examples = strtoul(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--runs") == 0) {
            runs = (int)strtol(argv[i + 1], NULL, 10);
        }
    }
    corpus c = {0};
    if (hush_global_init() != 0 || corpus_load(path, &c) != 0 || runs < 1 || runs > 99) {
        fprintf(stderr, "fl-memory: needs %s (scripts/fetch-corpus) and 1..99 runs\n",
                path);
        return 1;
    }
    for (const char *p = hiddens; *p != '\0';) {
        char *end = NULL;
        uint32_t hidden = (uint32_t)strtoul(p, &end, 10);
        p = *end == ',' ? end + 1 : end;
        /* the head-only estimate (device/learn.c): the update, the head's
         * model and gradient, the features */
        size_t n = 256u * hidden + hidden + 2u * hidden + 2, hn = 2u * hidden + 2;
        size_t budget = sizeof(float) * (n + 3 * hn + examples * hidden) + 1;
        long rss[2][99], peak[2][99];
        for (int r = 0; r < runs; r++) {
            for (int b = 0; b < 2; b++) {
                measured m = in_child(&c, examples, hidden, b ? budget : 0);
                if (m.rc != 0) {
                    fprintf(stderr, "fl-memory: a round failed (%d)\n", m.rc);
                    return 1;
                }
                rss[b][r] = m.rss_kb;
                peak[b][r] = m.peak_kb;
            }
        }
        long r0 = median(rss[0], runs), r1 = median(rss[1], runs),
             p0 = median(peak[0], runs), p1 = median(peak[1], runs);
        printf("{\"bench\":\"fl\",\"what\":\"memory\",\"model\":\"mlp:%u\","
               "\"parameters\":%zu,"
               "\"examples\":%zu,\"budget_bytes\":%zu,\"rss_kb_before_round\":%ld,"
               "\"peak_rss_kb_before\":%ld,\"peak_rss_kb\":%ld,\"round_kb_before\":%ld,"
               "\"round_kb\":%ld,\"runs\":%d}\n",
               hidden, n, examples, budget, r0, p0, p1, p0 - r0, p1 - r1, runs);
        fflush(stdout);
    }
    corpus_free(&c);
    return 0;
}
