/*
 * fuzz_secagg_round.c - libFuzzer target for the collector's secure-
 * aggregation round engine (collector/secagg_round.c) under documents from
 * devices it cannot trust.  The input is lines: each line is posted as a
 * device's document at a clock that advances by (first byte % 7) seconds,
 * and after each a device (line length % 12) fetches what the stage
 * serves.  Eight real devices have sent their keys first, so the list is
 * fixed and the share stage reached; the fuzzer cannot forge their boxes,
 * so it drives the engine's refusals and its deadline and failure paths.
 * Properties: no crash, no leak; stages only move forward; a sum exists
 * only when the round is done.
 */
#include <stdlib.h>
#include <string.h>

#include "hush_protocol.h"
#include "secagg_round.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hush__sa_config cfg = {.min_devices = 3,
                           .max_devices = 12,
                           .dropout = 0.3,
                           .dishonest = 0.0,
                           .bits = 16,
                           .length = 8,
                           .round = 1,
                           .stage_seconds = 5};
    hush__sa_round *r = NULL;
    if (hush__sa_round_new(&cfg, 0, &r, NULL) != 0) {
        abort();
    }
    uint8_t tokens[8][HUSH__SA_TOKEN_BYTES];
    for (int i = 0; i < 8; i++) {
        hush_secagg_client *c = NULL;
        hush_secagg_msg m = {.stage = HUSH_SECAGG_KEYS};
        if (hush_secagg_client_new(NULL, &c, &m.keys, NULL) != 0) {
            abort();
        }
        char *doc = hush_secagg_msg_json(&m);
        hush__sa_post io = {0};
        hush__sa_round_post(r, doc, strlen(doc), &io, 0, NULL);
        memcpy(tokens[i], io.token, sizeof io.token);
        hush_free(doc);
        hush_secagg_client_free(c);
    }
    double now = 0;
    hush__sa_stage last = hush__sa_round_stage(r, now);
    size_t at = 0;
    while (at < size) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t len = nl != NULL ? (size_t)(nl - (data + at)) : size - at;
        now += len > 0 ? data[at] % 7 : 1;
        /* with some device's token: the token check passes, what follows
         * is the protocol's */
        hush__sa_post io = {0};
        memcpy(io.token, tokens[len % 8], sizeof io.token);
        hush__sa_round_post(r, (const char *)data + at, len, &io, now, NULL);
        char *body = NULL;
        if (hush__sa_round_get(r, (uint32_t)(len % 12), now, &body, NULL) == 0 &&
            body == NULL) {
            abort();
        }
        hush_free(body);
        hush__sa_stage s = hush__sa_round_stage(r, now);
        if (s < last) {
            abort(); /* stages only move forward */
        }
        last = s;
        at += len + 1;
    }
    uint32_t length = 0, survivors = 0;
    if (hush__sa_round_sum(r, &length, &survivors) != NULL && last != HUSH__SA_DONE) {
        abort(); /* a sum only from a finished round */
    }
    hush__sa_round_free(r);
    return 0;
}
