/*
 * hush_token.h - the verifiable oblivious PRF of RFC 9497 (VOPRF mode,
 * ciphersuite ristretto255-SHA512), on libsodium's ristretto255.
 *
 * It is what anonymous tokens are made of (Privacy Pass, RFC 9576/9578): a
 * device picks a random input, blinds it, and the issuer evaluates the
 * blinded element under its key with a proof (a DLEQ proof that it used
 * the key whose public half the device pinned, so it cannot tag one device
 * with a key of its own); the device unblinds and keeps (input, output) as
 * a token.  Later anyone holding the key can check a token by evaluating
 * the input directly, but the issuer never saw the input at issuance, so
 * it cannot link a redemption to an issuance.
 *
 * Sizes: elements and scalars 32 bytes, a proof 64 (c || s), an output
 * 64 (SHA-512).  Inputs are at most HUSH_VOPRF_INPUT_MAX bytes.  Every
 * function is thread-safe; secrets (keys, blinds) are the caller's to
 * wipe.  Returns 0, or HUSH_EINVAL (a malformed or identity element, an
 * input too long, n = 0) or HUSH_ESIGNATURE (a proof that does not verify)
 * with a message.
 */
#ifndef HUSH_TOKEN_H
#define HUSH_TOKEN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "hush_common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HUSH_VOPRF_ELEMENT 32
#define HUSH_VOPRF_SCALAR 32
#define HUSH_VOPRF_PROOF 64
#define HUSH_VOPRF_OUTPUT 64
#define HUSH_VOPRF_INPUT_MAX 65535
/* more elements than this in one evaluation are refused */
#define HUSH_VOPRF_BATCH_MAX 1024

/**
 * DeriveKeyPair (RFC 9497 3.2.1): the key pair of a 32-byte seed and a
 * public info string (at most 65535 bytes).  For tests and for keys an
 * operator derives from a secret it keeps elsewhere.
 */
HUSH_API int hush_voprf_derive_key(const uint8_t seed[32], const uint8_t *info,
                                   size_t info_len, uint8_t sk[HUSH_VOPRF_SCALAR],
                                   uint8_t pk[HUSH_VOPRF_ELEMENT],
                                   hush_err *err) HUSH_WARN_UNUSED;

/** A random key pair (libsodium's generator). */
HUSH_API void hush_voprf_keygen(uint8_t sk[HUSH_VOPRF_SCALAR],
                                uint8_t pk[HUSH_VOPRF_ELEMENT]);

/**
 * Client: blinds `input` (Blind, 3.3.1).  `blind` is used as given when
 * `fixed_blind` is true (tests), else drawn at random and written there.
 */
HUSH_API int hush_voprf_blind(const uint8_t *input, size_t len,
                              uint8_t blind[HUSH_VOPRF_SCALAR], int fixed_blind,
                              uint8_t blinded[HUSH_VOPRF_ELEMENT],
                              hush_err *err) HUSH_WARN_UNUSED;

/**
 * Server: evaluates n blinded elements (n * 32 bytes) under sk, writing n
 * evaluated elements and one proof for the batch (BlindEvaluate, 3.3.2).
 * `r` is the proof's random scalar (tests) or NULL (drawn at random).
 * Each blinded element is checked: a malformed or identity one refuses
 * the whole batch.
 */
HUSH_API int hush_voprf_blind_evaluate(const uint8_t sk[HUSH_VOPRF_SCALAR],
                                       const uint8_t pk[HUSH_VOPRF_ELEMENT],
                                       const uint8_t *blinded, size_t n, const uint8_t *r,
                                       uint8_t *evaluated,
                                       uint8_t proof[HUSH_VOPRF_PROOF],
                                       hush_err *err) HUSH_WARN_UNUSED;

/**
 * Client: checks the proof against the pinned pk and unblinds n outputs
 * (Finalize, 3.3.2): inputs[i] of lens[i] bytes, blinds n * 32, blinded
 * and evaluated n * 32, outputs n * 64.  HUSH_ESIGNATURE when the proof
 * does not verify (nothing is written then).
 */
HUSH_API int hush_voprf_finalize(const uint8_t pk[HUSH_VOPRF_ELEMENT],
                                 const uint8_t *const *inputs, const size_t *lens,
                                 const uint8_t *blinds, const uint8_t *blinded,
                                 const uint8_t *evaluated, size_t n,
                                 const uint8_t proof[HUSH_VOPRF_PROOF], uint8_t *outputs,
                                 hush_err *err) HUSH_WARN_UNUSED;

/**
 * Server: the PRF's output on `input`, computed directly (Evaluate,
 * 3.3.2): what a token's output must equal.
 */
HUSH_API int hush_voprf_evaluate(const uint8_t sk[HUSH_VOPRF_SCALAR],
                                 const uint8_t *input, size_t len,
                                 uint8_t out[HUSH_VOPRF_OUTPUT],
                                 hush_err *err) HUSH_WARN_UNUSED;

/* ---- anonymous tokens ---- */

/*
 * A token is the pair (input, output) of one VOPRF evaluation: its input
 * "hush-token-v1" || big-endian 64-bit key epoch || a 32-byte nonce the
 * device drew, its authenticator the 64-byte output.  The issuer's key of
 * an epoch is derived from a master secret only the collector holds
 * (hush_token_epoch_key), so keys rotate by epoch with nothing stored.
 * On the wire (a report batch's "tokens"): {"epoch": e, "nonce": base64,
 * "authenticator": base64}.
 */
#define HUSH_TOKEN_NONCE_BYTES 32
#define HUSH_TOKEN_INPUT_BYTES (13 + 8 + HUSH_TOKEN_NONCE_BYTES)

typedef struct hush_token {
    uint64_t epoch;
    uint8_t nonce[HUSH_TOKEN_NONCE_BYTES];
    uint8_t authenticator[HUSH_VOPRF_OUTPUT];
} hush_token;

/** The VOPRF input of a token. */
HUSH_API void hush_token_input(uint64_t epoch,
                               const uint8_t nonce[HUSH_TOKEN_NONCE_BYTES],
                               uint8_t out[HUSH_TOKEN_INPUT_BYTES]);

/** The issuer's key pair of an epoch: DeriveKeyPair(master, "hush token
 * epoch <decimal epoch>"). */
HUSH_API int hush_token_epoch_key(const uint8_t master[32], uint64_t epoch,
                                  uint8_t sk[HUSH_VOPRF_SCALAR],
                                  uint8_t pk[HUSH_VOPRF_ELEMENT],
                                  hush_err *err) HUSH_WARN_UNUSED;

/** Tokens as a JSON array (new reference, NULL: out of memory). */
HUSH_API json_t *hush_tokens_to_json(const hush_token *tokens, size_t n);

/**
 * Reads a JSON array of at most `max` tokens: *out is new (hush_free), *n
 * its length.  Every field is checked (epoch an integer >= 0 below 2^53,
 * nonce 32 and authenticator 64 bytes of base64, nothing else).  Returns 0
 * or HUSH_EINVAL naming the bad token.
 */
HUSH_API int hush_tokens_from_json(const json_t *arr, size_t max, hush_token **out,
                                   size_t *n, hush_err *err) HUSH_WARN_UNUSED;

#ifdef __cplusplus
}
#endif

#endif
