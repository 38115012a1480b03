/*
 * fuzz_follow_keys.c - libFuzzer target for the GET /v1/keys documents a
 * device follows key rotations from (hush_agent_follow_keys).  Properties:
 * no crash; without signatures by the trusted key nothing is ever trusted
 * (the agent still refuses a publication signed by another key).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "hush_device.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static hush_agent *a;
    if (a == NULL) {
        char dir[] = "/tmp/hush-fuzz-keys-XXXXXX";
        if (mkdtemp(dir) == NULL) {
            abort();
        }
        hush_agent_config cfg = {.state_dir = dir};
        memset(cfg.collector_key, 7, sizeof cfg.collector_key);
        if (hush_agent_open(&cfg, &a, NULL) != 0) {
            abort();
        }
    }
    size_t added = 0;
    if (hush_agent_follow_keys(a, (const char *)data, size, &added, NULL) == 0 &&
        added != 0) {
        abort(); /* the pinned key's secret is unknown: nothing can chain from it */
    }
    return 0;
}
