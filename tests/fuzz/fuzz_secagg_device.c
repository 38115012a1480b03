/*
 * fuzz_secagg_device.c - libFuzzer target for what a device's
 * secure-aggregation session reads from the collector
 * (hush_fl_secagg_handle): the keys' answer, stage documents, error
 * documents, under any status.  The input is a sequence of answers, one a
 * line: its first byte picks the status (200, 201, 409, 400, 410), the
 * rest is the body.  Each answer goes to the session in turn, whatever it
 * asked for.  Properties: no crash, no leak; next() and the state agree
 * (a running session always has a request, an ended one never); nothing
 * is charged unless the session got as far as its masked update.
 */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hush_device.h"
#include "hush_embed.h"
#include "hush_learning.h"
#include "hush_protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static hush_agent *agent;
static hush_fl_model *model;
static int64_t clock_now = 20000LL * 86400;

static int64_t fixed_clock(void *ctx)
{
    return *(int64_t *)ctx;
}

/* A signed publication of a secure-aggregation task, accepted once. */
static void setup(void)
{
    uint8_t pk[32], sk[64], seed[32] = {3};
    crypto_sign_seed_keypair(pk, sk, seed);
    char dir[] = "/tmp/hush-fuzz-secagg-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        abort();
    }
    hush_agent_config cfg = {.state_dir = dir,
                             .clock = fixed_clock,
                             .clock_ctx = &clock_now,
                             .rng_seed = seed};
    memcpy(cfg.collector_key, pk, 32);
    static const char desc[] =
        "{\"kind\":\"hashed-ngram\",\"version\":1,\"dim\":8,\"seed\":4}";
    hush_embedder *e = NULL;
    char *canon = NULL, *w = NULL, *seed64 = hush_b64_encode(seed, sizeof seed);
    hush_model_spec spec = {.kind = HUSH_MODEL_LOGISTIC, .inputs = 8, .classes = 2};
    hush_model *m = NULL;
    hush_ddg plan;
    if (hush_agent_open(&cfg, &agent, NULL) != 0 ||
        hush_agent_add_example(agent, "free money now", 14, 1, NULL) != 0 ||
        hush_agent_add_example(agent, "lunch at noon", 13, 0, NULL) != 0 ||
        hush_embedder_new(desc, sizeof desc - 1, NULL, 0, NULL, &e, NULL) != 0 ||
        hush_embedder_describe(e, &canon, NULL) != 0 ||
        hush_model_new(&spec, 1, &m, NULL) != 0 ||
        hush_model_to_base64(m, &w, NULL) != 0 ||
        hush_ddg_plan((uint32_t)hush_model_size(m), 0.5, 3, 8, 20, 1.0, seed, &plan,
                      NULL) != 0) {
        abort();
    }
    json_t *doc = json_pack(
        "{s:s, s:i, s:s, s:{s:s, s:i, s:i, s:i}, s:[s, s], s:o, s:f, s:b, s:f, "
        "s:{s:i, s:i, s:f}, s:s, s:s, s:s}",
        "model", "m", "round", 1, "name", "M", "architecture", "kind", "logistic",
        "inputs", 8, "classes", 2, "hidden", 0, "labels", "ham", "spam", "embedder",
        json_loads(canon, 0, NULL), "clip_norm", 0.5, "adaptive_clipping", false,
        "sampling_rate", 1.0, "local", "epochs", 1, "batch", 2, "lr", 0.5,
        "personalization", "none", "weights", w, "aggregation", "secagg");
    json_object_set_new(
        doc, "secagg",
        json_pack("{s:i, s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:{s:f, s:i, s:s}}",
                  "min_devices", 3, "max_devices", 8, "max_participations", 1000, "bits",
                  20, "noise_multiplier", 1.0, "delta", 1e-5, "dropout", 0.0, "dishonest",
                  0.0, "stage_seconds", 10.0, "ddg", "gamma", plan.gamma, "sigma",
                  (int)plan.sigma, "seed", seed64));
    char *body = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17));
    uint8_t sig[64];
    crypto_sign_detached(sig, NULL, (const uint8_t *)body, strlen(body), sk);
    char *sig64 = hush_b64_encode(sig, sizeof sig);
    if (hush_agent_accept_model(agent, "m", body, strlen(body), sig64, &model, NULL) !=
        0) {
        abort();
    }
    free(body);
    json_decref(doc);
    hush_free(sig64);
    hush_free(seed64);
    hush_free(w);
    hush_free(canon);
    hush_model_free(m);
    hush_embedder_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = {200, 201, 409, 400, 410};
    if (agent == NULL) {
        setup();
    }
    hush_fl_secagg *s = NULL;
    if (hush_agent_secagg_begin(agent, model, NULL, &s, NULL) != 0) {
        return 0; /* charged in an earlier input: nothing to drive */
    }
    size_t at = 0;
    while (at < size) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t len = nl != NULL ? (size_t)(nl - (data + at)) : size - at;
        hush_secagg_request req;
        int running = hush_fl_secagg_state(s) == HUSH_FL_SECAGG_RUNNING;
        if ((hush_fl_secagg_next(s, &req, NULL) == 0) != running) {
            abort();
        }
        if (!running) {
            break;
        }
        long status = len > 0 ? statuses[data[at] % 5] : 200;
        const char *body = len > 0 ? (const char *)data + at + 1 : "";
        int rc = hush_fl_secagg_handle(s, status, body, len > 0 ? len - 1 : 0, NULL);
        if ((rc == 0) != (hush_fl_secagg_state(s) != HUSH_FL_SECAGG_ABORTED)) {
            abort(); /* an error is an abort, and an abort an error */
        }
        at += len + 1;
    }
    hush_fl_secagg_free(s);
    return 0;
}
