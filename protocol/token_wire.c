/*
 * token_wire.c - anonymous tokens on the wire (hush_token.h): a token's
 * VOPRF input, the issuer's key of an epoch, and tokens in JSON.
 */
#include <stdio.h>
#include <string.h>

#include "hush_protocol.h"
#include "hush_token.h"

static const char PREFIX[] = "hush-token-v1";

void hush_token_input(uint64_t epoch, const uint8_t nonce[HUSH_TOKEN_NONCE_BYTES],
                      uint8_t out[HUSH_TOKEN_INPUT_BYTES])
{
    memcpy(out, PREFIX, 13);
    for (int i = 0; i < 8; i++) {
        out[13 + i] = (uint8_t)(epoch >> (56 - 8 * i));
    }
    memcpy(out + 21, nonce, HUSH_TOKEN_NONCE_BYTES);
}

int hush_token_epoch_key(const uint8_t master[32], uint64_t epoch, uint8_t sk[32],
                         uint8_t pk[32], hush_err *err)
{
    char info[48];
    int len =
        snprintf(info, sizeof info, "hush token epoch %llu", (unsigned long long)epoch);
    return hush_voprf_derive_key(master, (const uint8_t *)info, (size_t)len, sk, pk, err);
}

json_t *hush_tokens_to_json(const hush_token *tokens, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++) {
        char *nonce = hush_b64_encode(tokens[i].nonce, sizeof tokens[i].nonce);
        char *auth =
            hush_b64_encode(tokens[i].authenticator, sizeof tokens[i].authenticator);
        json_t *o =
            nonce != NULL && auth != NULL
                ? json_pack("{s:I, s:s, s:s}", "epoch", (json_int_t)tokens[i].epoch,
                            "nonce", nonce, "authenticator", auth)
                : NULL;
        hush_free(nonce);
        hush_free(auth);
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

/* A base64 field of exactly `len` bytes. */
static bool b64_field(const json_t *o, const char *name, uint8_t *out, size_t len)
{
    const json_t *v = json_object_get(o, name);
    size_t got = 0;
    return json_is_string(v) &&
           hush_b64_decode(json_string_value(v), json_string_length(v), out, len, &got) ==
               0 &&
           got == len;
}

static int token_from_json(const json_t *o, hush_token *t, size_t i, hush_err *err)
{
    const json_t *epoch = json_object_get(o, "epoch");
    if (!json_is_object(o) || json_object_size(o) != 3 || !json_is_integer(epoch) ||
        json_integer_value(epoch) < 0 ||
        json_integer_value(epoch) > (json_int_t)(UINT64_C(1) << 53) ||
        !b64_field(o, "nonce", t->nonce, sizeof t->nonce) ||
        !b64_field(o, "authenticator", t->authenticator, sizeof t->authenticator)) {
        return hush_err_set(err, HUSH_EINVAL,
                            "token %zu must be {\"epoch\": integer, \"nonce\": 32 bytes, "
                            "\"authenticator\": 64 bytes} (base64)",
                            i);
    }
    t->epoch = (uint64_t)json_integer_value(epoch);
    return 0;
}

int hush_tokens_from_json(const json_t *arr, size_t max, hush_token **out, size_t *n,
                          hush_err *err)
{
    *out = NULL;
    *n = 0;
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > max) {
        return hush_err_set(err, HUSH_EINVAL,
                            "\"tokens\" must be an array of 1 to %zu tokens", max);
    }
    size_t count = json_array_size(arr);
    hush_token *t = hush_calloc(count, sizeof *t);
    if (t == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory reading %zu tokens", count);
    }
    for (size_t i = 0; i < count; i++) {
        int rc = token_from_json(json_array_get(arr, i), &t[i], i, err);
        if (rc != 0) {
            hush_free(t);
            return rc;
        }
    }
    *out = t;
    *n = count;
    return 0;
}
