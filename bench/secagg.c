/*
 * bench/secagg - a secure-aggregation round in one process: n devices with
 * `length`-integer vectors, a share of them dropping out after sharing
 * their keys and before sending their masked vector (the costliest point
 * for the collector: it must rebuild and remove every pairwise mask they
 * left in their neighbours' vectors), on one core.
 *
 * Per dropout rate, one JSON object:
 *   {"bench":"secagg","devices":1000,"params":10000,"bits":32,"dropout":0.33,
 *    "k":…,"t":…,"q":…,"device_ms":…(median),"device_ms_max":…,
 *    "device_ms_by_stage":{…},"device_bytes":…,"device_bytes_by_stage":{…},
 *    "collector_s":…,"expansion":…}
 * device_ms: one device's compute over all its stages; device_bytes: what
 * it sends and receives (message payloads as laid out in hush_secagg.h:
 * keys 96 B each, boxes 8 + 80 B, indices 4 B, signatures 4 + 64 B,
 * reveals 4 + 4 + 1 + 32 B); expansion: device_bytes over a plain upload
 * of the same integers (length * bits / 8).  The sum is checked exact.
 *
 * Usage: build/bench/secagg [--devices N] [--params M] [--bits B] [--seed S]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "hush_secagg.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void die(const char *what, const hush_err *err)
{
    fprintf(stderr, "bench/secagg: %s: %s\n", what, err->msg);
    exit(1);
}

enum { STAGES = 5 };
static const char *const stage_name[STAGES] = {"keys", "share", "mask", "sign", "unmask"};

struct run {
    uint32_t n, m, bits;
    double dropout;
    hush_secagg_params p;
    hush_secagg_client **c;
    hush_secagg_keys *keys;
    hush_secagg_server *s;
    double *dev_s;          /* per device: total compute */
    double stage_s[STAGES]; /* summed over the devices that ran it */
    unsigned stage_runs[STAGES];
    double stage_bytes[STAGES]; /* per device that ran it, summed */
    double collector_s;
    uint32_t *truth;
    unsigned char *drops; /* 1: drops after sharing */
};

static void stage_keys(struct run *r)
{
    hush_err err = {0};
    for (uint32_t i = 0; i < r->n; i++) {
        double t0 = now();
        if (hush_secagg_client_new(NULL, &r->c[i], &r->keys[i], &err) != 0) {
            die("keys", &err);
        }
        double dt = now() - t0;
        r->dev_s[i] += dt;
        r->stage_s[0] += dt;
        r->stage_runs[0]++;
        /* up: its keys; down: the parameters and the key list */
        r->stage_bytes[0] += 96 + 7 * 4 + (double)r->n * 96;
    }
}

static void stage_share(struct run *r)
{
    hush_err err = {0};
    double t0 = now();
    if (hush_secagg_server_new(&r->p, r->keys, &r->s, &err) != 0) {
        die("server", &err);
    }
    r->collector_s += now() - t0;
    for (uint32_t i = 0; i < r->n; i++) {
        hush_secagg_box *b = NULL;
        size_t nb = 0;
        t0 = now();
        if (hush_secagg_client_share(r->c[i], &r->p, r->keys, &b, &nb, &err) != 0) {
            die("share", &err);
        }
        double dt = now() - t0;
        r->dev_s[i] += dt;
        r->stage_s[1] += dt;
        r->stage_runs[1]++;
        r->stage_bytes[1] += (double)nb * (8 + HUSH_SECAGG_BOX_BYTES);
        t0 = now();
        if (hush_secagg_server_add_boxes(r->s, i, b, nb, &err) != 0) {
            die("server boxes", &err);
        }
        r->collector_s += now() - t0;
        hush_free(b);
    }
}

static void stage_mask(struct run *r)
{
    hush_err err = {0};
    uint32_t top = r->bits == 32 ? UINT32_MAX : (1u << r->bits) - 1;
    uint32_t *x = malloc((size_t)r->m * sizeof *x);
    for (uint32_t i = 0; i < r->n; i++) {
        if (r->drops[i]) {
            continue;
        }
        const hush_secagg_box *in = NULL;
        size_t n_in = 0;
        double t0 = now();
        if (hush_secagg_server_boxes_for(r->s, i, &in, &n_in, &err) != 0) {
            die("server inbox", &err);
        }
        r->collector_s += now() - t0;
        for (uint32_t j = 0; j < r->m; j++) {
            x[j] = (i * 2654435761u + j * 40503u) & top;
            r->truth[j] = (r->truth[j] + x[j]) & top;
        }
        uint32_t *y = NULL;
        uint8_t commit[HUSH_SECAGG_SESSION_BYTES];
        t0 = now();
        if (hush_secagg_client_mask(r->c[i], in, n_in, x, &y, commit, &err) != 0) {
            die("mask", &err);
        }
        double dt = now() - t0;
        r->dev_s[i] += dt;
        r->stage_s[2] += dt;
        r->stage_runs[2]++;
        r->stage_bytes[2] += (double)n_in * (8 + HUSH_SECAGG_BOX_BYTES) +
                             (double)r->m * r->bits / 8.0 + HUSH_SECAGG_SESSION_BYTES;
        t0 = now();
        if (hush_secagg_server_add_masked(r->s, i, y, commit, &err) != 0) {
            die("server masked", &err);
        }
        r->collector_s += now() - t0;
        hush_free(y);
    }
    free(x);
}

static void stage_sign_unmask(struct run *r)
{
    hush_err err = {0};
    const uint32_t *surv = NULL;
    size_t ns = 0;
    double t0 = now();
    if (hush_secagg_server_survivors(r->s, &surv, &ns, &err) != 0) {
        die("survivors", &err);
    }
    r->collector_s += now() - t0;
    for (size_t i = 0; i < ns; i++) {
        uint8_t sig[HUSH_SECAGG_SIG_BYTES];
        t0 = now();
        if (hush_secagg_client_sign(r->c[surv[i]], surv, ns, sig, &err) != 0) {
            die("sign", &err);
        }
        double dt = now() - t0;
        r->dev_s[surv[i]] += dt;
        r->stage_s[3] += dt;
        r->stage_runs[3]++;
        r->stage_bytes[3] += 4.0 * (double)ns + 4 + HUSH_SECAGG_SIG_BYTES;
        t0 = now();
        if (hush_secagg_server_add_sig(r->s, surv[i], sig, &err) != 0) {
            die("server sig", &err);
        }
        r->collector_s += now() - t0;
    }
    const hush_secagg_sig *sigs = NULL;
    const uint32_t *dropped = NULL;
    size_t n_sigs = 0, n_dropped = 0;
    if (hush_secagg_server_unmask_request(r->s, &sigs, &n_sigs, &dropped, &n_dropped,
                                          &err) != 0) {
        die("unmask request", &err);
    }
    for (size_t i = 0; i < ns; i++) {
        hush_secagg_reveal *rv = NULL;
        size_t nr = 0;
        t0 = now();
        if (hush_secagg_client_unmask(r->c[surv[i]], sigs, n_sigs, dropped, n_dropped,
                                      &rv, &nr, &err) != 0) {
            die("unmask", &err);
        }
        double dt = now() - t0;
        r->dev_s[surv[i]] += dt;
        r->stage_s[4] += dt;
        r->stage_runs[4]++;
        r->stage_bytes[4] += (double)n_sigs * (4 + HUSH_SECAGG_SIG_BYTES) +
                             4.0 * (double)n_dropped + (double)nr * (4 + 4 + 1 + 32);
        t0 = now();
        if (hush_secagg_server_add_reveals(r->s, surv[i], rv, nr, &err) != 0) {
            die("server reveals", &err);
        }
        r->collector_s += now() - t0;
        hush_free(rv);
    }
}

static void one(uint32_t n, uint32_t m, uint32_t bits, double dropout, unsigned seed)
{
    struct run r = {.n = n, .m = m, .bits = bits, .dropout = dropout};
    hush_err err = {0};
    if (hush_secagg_choose(n, dropout, 0.05, 40, 20, bits, m, &r.p, &err) != 0) {
        die("parameters", &err);
    }
    r.c = calloc(n, sizeof *r.c);
    r.keys = calloc(n, sizeof *r.keys);
    r.dev_s = calloc(n, sizeof *r.dev_s);
    r.truth = calloc(m, sizeof *r.truth);
    r.drops = calloc(n, 1);
    srand(seed);
    for (uint32_t dropped = 0; dropped < (uint32_t)(dropout * n);) {
        uint32_t i = (uint32_t)rand() % n;
        dropped += !r.drops[i];
        r.drops[i] = 1;
    }
    stage_keys(&r);
    stage_share(&r);
    stage_mask(&r);
    stage_sign_unmask(&r);
    uint32_t *sum = malloc((size_t)m * sizeof *sum);
    double t0 = now();
    if (hush_secagg_server_finish(r.s, sum, &err) != 0) {
        die("finish", &err);
    }
    r.collector_s += now() - t0;
    if (memcmp(sum, r.truth, (size_t)m * sizeof *sum) != 0) {
        fprintf(stderr, "bench/secagg: the sum is wrong\n");
        exit(1);
    }
    /* a surviving device's figures */
    double *surv_ms = malloc((size_t)n * sizeof *surv_ms), bytes = 0, max_ms = 0;
    size_t ns = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!r.drops[i]) {
            surv_ms[ns++] = r.dev_s[i] * 1e3;
            max_ms = r.dev_s[i] * 1e3 > max_ms ? r.dev_s[i] * 1e3 : max_ms;
        }
    }
    printf(
        "{\"bench\":\"secagg\",\"devices\":%u,\"params\":%u,\"bits\":%u,\"dropout\":%.2f,"
        "\"k\":%u,\"t\":%u,\"q\":%u,\"device_ms\":%.2f,\"device_ms_max\":%.2f,"
        "\"device_ms_by_stage\":{",
        n, m, bits, dropout, r.p.k, r.p.t, r.p.q, median(surv_ms, ns), max_ms);
    for (int s = 0; s < STAGES; s++) {
        printf("%s\"%s\":%.3f", s ? "," : "", stage_name[s],
               r.stage_runs[s] ? 1e3 * r.stage_s[s] / r.stage_runs[s] : 0.0);
    }
    printf("},\"device_bytes_by_stage\":{");
    for (int s = 0; s < STAGES; s++) {
        double b = r.stage_runs[s] ? r.stage_bytes[s] / r.stage_runs[s] : 0.0;
        bytes += b;
        printf("%s\"%s\":%.0f", s ? "," : "", stage_name[s], b);
    }
    double plain = (double)m * bits / 8.0;
    printf("},\"device_bytes\":%.0f,\"plain_bytes\":%.0f,\"collector_s\":%.3f,"
           "\"expansion\":%.3f}\n",
           bytes, plain, r.collector_s, bytes / plain);
    fflush(stdout);
    for (uint32_t i = 0; i < n; i++) {
        hush_secagg_client_free(r.c[i]);
    }
    hush_secagg_server_free(r.s);
    free(sum);
    free(surv_ms);
    free(r.c);
    free(r.keys);
    free(r.dev_s);
    free(r.truth);
    free(r.drops);
}

int main(int argc, char **argv)
{
    uint32_t n = 1000, m = 10000, bits = 32;
    unsigned seed = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--devices") == 0) {
            n = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--params") == 0) {
            m = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--bits") == 0) {
            bits = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--seed") == 0) {
            seed = (unsigned)strtoul(argv[i + 1], NULL, 10);
        } else {
            fprintf(stderr,
                    "usage: secagg [--devices N] [--params M] [--bits B] [--seed S]\n");
            return 2;
        }
    }
    if (sodium_init() < 0) { /* also picks libsodium's SIMD implementations */
        return 1;
    }
    /* the mask expansion alone: ChaCha20 keystream (libsodium picks its
     * SSSE3 / AVX2 implementation at run time) added into a vector */
    {
        uint32_t *acc = calloc(m, sizeof *acc), *buf = malloc((size_t)m * sizeof *buf);
        uint8_t key[32] = {1};
        int reps = 2000;
        double t0 = now();
        for (int i = 0; i < reps; i++) {
            static const uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {0};
            key[0] = (uint8_t)i; /* as learning/secagg.c expands one */
            crypto_stream_chacha20_ietf((uint8_t *)buf, (size_t)m * 4, nonce, key);
            for (uint32_t j = 0; j < m; j++) {
                acc[j] += buf[j];
            }
        }
        double dt = now() - t0;
        printf(
            "{\"bench\":\"secagg\",\"what\":\"mask\",\"params\":%u,\"us_per_mask\":%.2f,"
            "\"gb_per_s\":%.2f}\n",
            m, 1e6 * dt / reps, (double)reps * m * 4 / dt / 1e9);
        fflush(stdout);
        free(acc);
        free(buf);
    }
    const double dropouts[] = {0.0, 0.10, 0.33};
    for (size_t i = 0; i < sizeof dropouts / sizeof *dropouts; i++) {
        one(n, m, bits, dropouts[i], seed);
    }
    return 0;
}
