/*
 * api_tokens.c - anonymous tokens over HTTP: the issuer keys devices pin
 * (signed like a publication) and issuance (tokens.c).
 */
#include "api.h"

enum MHD_Result hush__api_token_keys(hush__req *rq)
{
    json_t *doc = NULL;
    hush__fail f = {0};
    if (hush__tokens_keys(rq->h, &doc, &f) != 0) {
        return hush__reply_fail(rq, &f);
    }
    char *body = hush_json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (body == NULL) {
        return hush__reply_error(rq, 500, "internal", "out of memory");
    }
    uint8_t sig[crypto_sign_BYTES];
    hush__sign(rq->h, body, strlen(body), sig);
    char *b64 = hush_b64_encode(sig, sizeof sig);
    hush__header_kv hs[] = {{HUSH_SIGNATURE_HEADER, b64},
                            {MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache"}};
    enum MHD_Result r = b64 != NULL ? hush__reply_headers(rq, 200, body, strlen(body),
                                                          "application/json", hs, 2)
                                    : hush__reply(rq, 500, NULL, 0, NULL, NULL, NULL);
    if (b64 == NULL) {
        hush_free(body);
    }
    hush_free(b64);
    return r;
}

enum MHD_Result hush__api_tokens_issue(hush__req *rq)
{
    json_t *out = NULL;
    hush__fail f = {0};
    int rc = hush__tokens_issue(rq->h, rq->doc, &out, &f);
    return hush__reply_outcome(rq, rc, 200, out, &f);
}
