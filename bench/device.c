/*
 * bench/device.c - what taking part in a synthetic campaign costs a device.
 *
 * A 10,000-candidate campaign (corpus paragraphs, or generated sentences
 * without the corpus) with a dim-256 hashed-ngram embedder is published and
 * signed by a "collector" process in the form devices fetch (the device
 * view: candidate_count and the matrix, no texts); a separate "device" process (this
 * program run again with --run, so that its memory is only the agent's) opens an agent,
 * adds 200 local samples (corpus emails), accepts the publication, and makes a batch:
 * embed + match + randomize + charge + render, timed. One JSON object:
 *
 *   {"bench":"device","embedder":"hashed-ngram"|"sif","candidates":10000,
 *    "dim":256,"samples":200,"reports":…,"ms":…,"ms_min":…,"accept_ms":…,
 *    "load_ms":…,"peak_rss_kb":…}
 *
 * With --word-vectors TABLE the campaign uses the "sif" embedder over that
 * SIF table (dimension 100; scripts/fetch-wordvec) and the device loads the
 * table first (load_ms; its memory counts in peak_rss_kb).
 *
 * ms is the median over 15 batches (the ledger allows them: the campaign
 * permits 100 reports a day and each batch makes one); peak_rss_kb is the
 * device process's maximum resident set, from getrusage.
 *
 * Usage: bench/device [--corpus PATH] [--word-vectors TABLE]
 */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "corpus.h"
#include "hush_device.h"
#include "hush_embed.h"
#include "hush_protocol.h"

#define CANDIDATES 10000
#define SAMPLES 200
#define DIM_MAX 256
#define RUNS 15

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench/device: %s: %s\n", what, msg);
    exit(1);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        die("write", path);
    }
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        die("read", path);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        die("read", path);
    }
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static const char *wv_path; /* --word-vectors: the sif embedder */
static int DIM = 256;       /* the embedder's (100 for sif) */

/* The campaign's embedder: the default hashed one, or sif over the table. */
static hush_embedder *make_embedder(hush_wordvec **wv)
{
    hush_err err = {0};
    hush_embedder *e = NULL;
    *wv = NULL;
    if (wv_path == NULL) {
        if (hush_embedder_new_default(256, 11, &e, &err) != 0) {
            die("embedder", err.msg);
        }
        return e;
    }
    if (hush_wordvec_load(wv_path, wv, &err) != 0) {
        die(wv_path, err.msg);
    }
    if (hush_embedder_new_sif(*wv, 1, &e, &err) != 0) {
        die("embedder", err.msg);
    }
    DIM = (int)hush_embedder_dim(e);
    return e;
}

/* The collector's side: candidates, embeddings, publication, signature. */
static void prepare(const char *dir, const char *corpus_path)
{
    corpus c;
    bool have = corpus_load(corpus_path, &c) == 0;
    hush_err err = {0};
    hush_wordvec *wv = NULL;
    hush_embedder *e = make_embedder(&wv);
    json_t *cands = json_array();
    hush_matrix *m = NULL;
    if (hush_matrix_new(HUSH_MATRIX_I8, CANDIDATES, DIM, &m, &err) != 0) {
        die("matrix", err.msg);
    }
    float v[DIM_MAX];
    uint32_t n = 0;
    for (size_t i = 0; n < CANDIDATES; i++) {
        char text[512];
        if (have) {
            /* paragraphs of the second half of the corpus (the samples come
             * from the first) */
            const char *s = c.text[c.n / 2 + i % (c.n / 2)];
            size_t len = strcspn(s + (i / (c.n / 2)) % 7 * 40, "\n");
            snprintf(text, sizeof text, "%.*s", (int)(len < 300 ? len : 300),
                     s + (i / (c.n / 2)) % 7 * 40);
        } else {
            snprintf(text, sizeof text, "synthetic candidate number %zu about topic %zu",
                     i, i % 97);
        }
        char id[16];
        snprintf(id, sizeof id, "s%u", n);
        /* a cut may split a UTF-8 sequence: JSON refuses it, skip the text */
        json_t *cand = json_pack("{s:s, s:s}", "id", id, "text", text);
        if (cand == NULL || hush_embed_text(e, text, strlen(text), v, DIM, NULL) != 0) {
            json_decref(cand);
            continue;
        }
        if (hush_matrix_set_row(m, n, v, DIM, &err) != 0) {
            die("row", err.msg);
        }
        json_array_append_new(cands, cand);
        n++;
    }
    char *b64 = NULL, *desc = NULL;
    if (hush_matrix_to_base64(m, &b64, &err) != 0 ||
        hush_embedder_describe(e, &desc, &err) != 0) {
        die("encode", err.msg);
    }
    uint8_t pk[32], sk[64], seal_pk[32], seal_sk[32];
    crypto_sign_keypair(pk, sk);
    crypto_box_keypair(seal_pk, seal_sk);
    char *seal_b64 = hush_b64_encode(seal_pk, 32);
    json_t *pub = json_pack("{s:s, s:i, s:s, s:s, s:{s:s, s:i, s:f}, s:{s:i, s:f}, s:i, "
                            "s:s, s:i, s:f, s:s, s:o, "
                            "s:s}",
                            "campaign", "bench", "round", 1, "kind", "synthetic", "name",
                            "bench", "mechanism", "name", "hr", "domain", CANDIDATES + 1,
                            "epsilon", 2.0, "budget", "reports_per_device_per_day", 100,
                            "epsilon_per_device_per_day", 200.0, "min_reports", 0,
                            "sealing_key", seal_b64, "candidate_count", CANDIDATES,
                            "match_threshold", 0.2, "no_match_id", "none", "embedder",
                            json_loads(desc, 0, NULL), "matrix", b64);
    json_decref(cands);
    char *body = json_dumps(pub, JSON_COMPACT);
    uint8_t sig[64];
    crypto_sign_detached(sig, NULL, (const uint8_t *)body, strlen(body), sk);
    char *sig_b64 = hush_b64_encode(sig, sizeof sig);
    char path[1024];
    snprintf(path, sizeof path, "%s/publication.json", dir);
    write_file(path, body, strlen(body));
    snprintf(path, sizeof path, "%s/signature", dir);
    write_file(path, sig_b64, strlen(sig_b64));
    snprintf(path, sizeof path, "%s/key", dir);
    write_file(path, pk, sizeof pk);
    /* the device's local data: 200 emails */
    snprintf(path, sizeof path, "%s/samples.jsonl", dir);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < SAMPLES; i++) {
        json_t *o =
            json_pack("{s:s}", "text",
                      have ? c.text[(size_t)i * (c.n / 2) / SAMPLES]
                           : "Hi, the meeting moved to Tuesday at 3pm, see you there.");
        char *s = json_dumps(o, JSON_COMPACT);
        fprintf(f, "%s\n", s);
        free(s);
        json_decref(o);
    }
    fclose(f);
    free(body);
    json_decref(pub);
    hush_free(b64);
    hush_free(desc);
    hush_free(seal_b64);
    hush_free(sig_b64);
    hush_matrix_free(m);
    hush_embedder_free(e);
    hush_wordvec_free(wv);
    if (have) {
        corpus_free(&c);
    }
    printf("%s\n", have ? "corpus" : "generated");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The device's side, in its own process. */
static void run(const char *dir, const char *data)
{
    char path[1024];
    size_t key_len, sig_len, body_len;
    snprintf(path, sizeof path, "%s/key", dir);
    char *key = read_file(path, &key_len);
    snprintf(path, sizeof path, "%s/signature", dir);
    char *sig = read_file(path, &sig_len);
    if (hush_global_init() != 0) {
        die("init", "libsodium");
    }
    hush_err err = {0};
    char state[1100];
    snprintf(state, sizeof state, "%s/state", dir);
    hush_agent_config cfg = {.state_dir = state};
    memcpy(cfg.collector_key, key, 32);
    hush_agent *a = NULL;
    hush_wordvec *wv = NULL;
    double t_load = now();
    if (wv_path != NULL && hush_wordvec_load(wv_path, &wv, &err) != 0) {
        die(wv_path, err.msg);
    }
    double load_ms = (now() - t_load) * 1e3;
    cfg.word_vectors = wv;
    if (hush_agent_open(&cfg, &a, &err) != 0) {
        die("open", err.msg);
    }
    hush_wordvec_free(wv); /* the agent holds its own reference */
    snprintf(path, sizeof path, "%s/samples.jsonl", dir);
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) > 0) {
        json_t *o = json_loadb(line, (size_t)got, 0, NULL);
        json_t *t = json_object_get(o, "text");
        if (hush_agent_add_sample(a, json_string_value(t), json_string_length(t), &err) !=
            0) {
            die("sample", err.msg);
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
    snprintf(path, sizeof path, "%s/publication.json", dir);
    char *body = read_file(path, &body_len);
    hush_campaign *c = NULL;
    double t0 = now();
    if (hush_agent_accept_campaign(a, "bench", body, body_len, sig, &c, &err) != 0) {
        die("accept", err.msg);
    }
    double accept_ms = (now() - t0) * 1e3;
    free(body); /* the app need not keep the body */
    double ms[RUNS];
    size_t reports = 0;
    for (int r = 0; r < RUNS; r++) {
        char *batch = NULL;
        size_t len = 0;
        hush_batch_options opt = {.max_reports = 1};
        t0 = now();
        if (hush_agent_make_report_batch(a, c, &opt, &batch, &len, &err) != 0) {
            die("batch", err.msg);
        }
        ms[r] = (now() - t0) * 1e3;
        json_t *doc = json_loads(batch, 0, NULL);
        reports = json_array_size(json_object_get(doc, "reports"));
        json_decref(doc);
        hush_free(batch);
    }
    qsort(ms, RUNS, sizeof ms[0], cmp_double);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"bench\":\"device\",\"embedder\":\"%s\",\"data\":\"%s\","
           "\"candidates\":%d,\"dim\":%d,\"samples\":%d,"
           "\"reports\":%zu,\"ms\":%.3f,\"ms_min\":%.3f,\"accept_ms\":%.3f,"
           "\"load_ms\":%.3f,\"peak_rss_kb\":%ld}\n",
           wv_path != NULL ? "sif" : "hashed-ngram", data, CANDIDATES,
           wv_path != NULL ? 100 : 256, SAMPLES, reports, ms[RUNS / 2], ms[0], accept_ms,
           load_ms, ru.ru_maxrss);
    hush_campaign_free(c);
    hush_agent_close(a);
    free(key);
    free(sig);
}

int main(int argc, char **argv)
{
    const char *corpus_path = "data/spamassassin.jsonl";
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "--run") == 0) {
        wv_path = argc == 5 ? argv[4] : NULL;
        run(argv[2], argv[3]);
        return 0;
    }
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--corpus") == 0) {
            corpus_path = argv[i + 1];
        } else if (strcmp(argv[i], "--word-vectors") == 0) {
            wv_path = argv[i + 1];
        } else {
            die("usage", "bench/device [--corpus PATH] [--word-vectors TABLE]");
        }
    }
    if (hush_global_init() != 0) {
        return 1;
    }
    char dir[] = "/tmp/hush-bench-device-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        die("mkdtemp", "failed");
    }
    fflush(stdout);
    int pipefd[2];
    if (pipe(pipefd) != 0) {
        die("pipe", "failed");
    }
    pid_t prep = fork();
    if (prep == 0) {
        dup2(pipefd[1], STDOUT_FILENO);
        prepare(dir, corpus_path);
        fflush(stdout);
        _exit(0);
    }
    close(pipefd[1]);
    char data[32] = "";
    ssize_t n = read(pipefd[0], data, sizeof data - 1);
    close(pipefd[0]);
    int status = 0;
    waitpid(prep, &status, 0);
    if (n <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char rm[128];
        snprintf(rm, sizeof rm, "rm -rf %s", dir);
        if (system(rm) != 0) {
            fprintf(stderr, "bench/device: could not remove %s\n", dir);
        }
        die("prepare", "the collector side failed");
    }
    data[strcspn(data, "\n")] = '\0';
    pid_t dev = fork();
    if (dev == 0) {
        execl("/proc/self/exe", argv[0], "--run", dir, data, wv_path, (char *)NULL);
        _exit(127);
    }
    waitpid(dev, &status, 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench/device: could not remove %s\n", dir);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
