/*
 * fuzz_ledger.c - libFuzzer target for the device's budget ledger file,
 * which the agent reads back from disk at every start (where anything may
 * have happened to it).  Properties: no crash, no leak; an accepted ledger
 * has non-negative finite spending and unique campaign ids, and renders to
 * a text that parses back to the same ledger.  Each input is tried as is
 * and with a valid checksum line appended, so that the fuzzer explores the
 * lines behind the checksum too.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <inttypes.h>
#include <stdio.h>
#include <xxhash.h>

#include "device_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const hush__ledger *a, const hush__ledger *b)
{
    if (a->day != b->day || a->device_epsilon != b->device_epsilon ||
        a->device_reports != b->device_reports || a->n != b->n) {
        abort();
    }
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->entries[i].campaign, b->entries[i].campaign) != 0 ||
            a->entries[i].epsilon != b->entries[i].epsilon ||
            a->entries[i].reports != b->entries[i].reports) {
            abort();
        }
    }
    if (a->n_rounds != b->n_rounds) {
        abort();
    }
    for (size_t i = 0; i < a->n_rounds; i++) {
        if (strcmp(a->rounds[i].key, b->rounds[i].key) != 0 ||
            a->rounds[i].seen != b->rounds[i].seen ||
            a->rounds[i].sent != b->rounds[i].sent) {
            abort();
        }
    }
}

static void one(const char *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL) {
        return;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    hush__ledger l;
    memset(&l, 0, sizeof l);
    if (strlen(text) != size || hush__ledger_parse(&l, text, size, NULL) != 0) {
        hush__ledger_dispose(&l);
        free(text);
        return;
    }
    if (!(l.device_epsilon >= 0.0) || !isfinite(l.device_epsilon)) {
        abort();
    }
    for (size_t i = 0; i < l.n; i++) {
        if (!(l.entries[i].epsilon >= 0.0) || !isfinite(l.entries[i].epsilon) ||
            hush__ledger_find(&l, l.entries[i].campaign) != &l.entries[i]) {
            abort();
        }
    }
    for (size_t i = 0; i < l.n_rounds; i++) {
        /* unique keys; an update is never recorded for an unseen round */
        if (hush__ledger_round_find(&l, l.rounds[i].key) != &l.rounds[i] ||
            l.rounds[i].sent > l.rounds[i].seen) {
            abort();
        }
    }
    size_t len = 0;
    char *again = hush__ledger_render(&l, &len);
    if (again != NULL) {
        hush__ledger back;
        memset(&back, 0, sizeof back);
        if (hush__ledger_parse(&back, again, len, NULL) != 0) {
            abort();
        }
        same(&l, &back);
        hush__ledger_dispose(&back);
        hush_free(again);
    }
    hush__ledger_dispose(&l);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one((const char *)data, size);
    char *fixed = malloc(size + 32);
    if (fixed != NULL) {
        memcpy(fixed, data, size);
        int n = snprintf(fixed + size, 32, "checksum %016" PRIx64 "\n",
                         XXH3_64bits(data, size));
        one(fixed, size + (size_t)n);
        free(fixed);
    }
    return 0;
}
