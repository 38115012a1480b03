/*
 * fuzz_secagg.c - libFuzzer target for secure aggregation's stage
 * documents (hush_secagg_msg_parse), which both the device and the
 * collector read from the other.  Properties: no crash, no leak; an
 * accepted document is written back and parses to the same document (the
 * writer's output is a fixed point).
 */
#include <stdlib.h>
#include <string.h>

#include "hush_protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hush_secagg_msg *m = NULL;
    if (hush_secagg_msg_parse((const char *)data, size, &m, NULL) != 0) {
        return 0;
    }
    char *once = hush_secagg_msg_json(m);
    hush_secagg_msg *again = NULL;
    if (once == NULL || hush_secagg_msg_parse(once, strlen(once), &again, NULL) != 0) {
        abort();
    }
    char *twice = hush_secagg_msg_json(again);
    if (twice == NULL || strcmp(once, twice) != 0) {
        abort();
    }
    hush_free(once);
    hush_free(twice);
    hush_secagg_msg_free(again);
    hush_secagg_msg_free(m);
    return 0;
}
