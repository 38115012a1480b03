/*
 * hush_secagg.h - secure aggregation: the collector learns the sum of the
 * devices' integer vectors, never one device's, even when devices drop out
 * mid-protocol.
 *
 * The protocol of Bonawitz et al. 2017 ("Practical Secure Aggregation for
 * Privacy-Preserving Machine Learning") on the sparse communication graph
 * of Bell et al. 2020 ("Secure Single-Server Aggregation with (Poly)
 * Logarithmic Overhead", SecAgg+), sans I/O: the device (hush_secagg_client)
 * and the collector (hush_secagg_server) produce and consume the stages'
 * messages; carrying them is the caller's business.
 *
 *   0. keys      each device advertises three public keys: share
 *                encryption (X25519), masking (X25519), signing (Ed25519).
 *   1. shares    the collector fixes the key list and the parameters; the
 *                session id is a hash of both, which every device computes
 *                itself.  The graph: a Harary graph of degree k over an
 *                order drawn from the session id.  Each device Shamir-shares
 *                (t of k, over GF(2^127 - 1)) its self-mask seed and its
 *                masking key's seed among its neighbours, each pair of
 *                shares encrypted to the neighbour (XChaCha20-Poly1305, key
 *                from crypto_kx, associated data = session, sender,
 *                receiver, round); the collector relays them.
 *   2. masked    y = x + PRG(self seed) + sum over neighbours v that sent
 *                shares of +-PRG(k_uv) mod 2^bits, PRG = ChaCha20 keyed by
 *                the full 256-bit agreed key.
 *   3. sign      the collector names the survivors (those whose y it has);
 *                each survivor signs (session, survivors) once.
 *   4. unmask    the collector hands out at least q signatures on that same
 *                list (q > (n + c)/2, c the dishonest devices tolerated: two
 *                different lists cannot both gather q); each device then
 *                reveals, for each neighbour that sent it shares, the
 *                self-mask share if it survived, the masking-key share if
 *                it dropped -- never both, and only once.
 *   The collector reconstructs the survivors' self masks and the dropped
 *   devices' masking keys from t shares each and removes them: the sum.
 *
 * Every device check that fails aborts the device's part for good
 * (HUSH_ESTATE with the reason): a key list with its own keys missing or
 * twice, a duplicated key, parameters below its policy, a share that does
 * not decrypt (another view of the key list), a survivor list that is not
 * a subset of the devices it heard from or names a device alive and dead,
 * too few valid signatures, a second unmask request.
 */
#ifndef HUSH_SECAGG_H
#define HUSH_SECAGG_H

#include <stddef.h>
#include <stdint.h>

#include "hush_common.h"
#include "hush_privacy.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HUSH_SECAGG_PK_BYTES 32
#define HUSH_SECAGG_SIG_BYTES 64
#define HUSH_SECAGG_SESSION_BYTES 32
/* a Shamir share of a 32-byte secret: two field elements */
#define HUSH_SECAGG_SHARE_BYTES 32
/* an encrypted pair of shares (self-mask seed, masking key seed) */
#define HUSH_SECAGG_BOX_BYTES (2 * HUSH_SECAGG_SHARE_BYTES + 16)
#define HUSH_SECAGG_MAX_DEVICES 100000
#define HUSH_SECAGG_MAX_LENGTH (1u << 24)

/* The round's parameters, fixed by the collector with the key list. */
typedef struct hush_secagg_params {
    uint32_t n;      /* devices in the key list */
    uint32_t k;      /* neighbours per device: even, or n - 1 (every other) */
    uint32_t t;      /* shares that reconstruct a secret, 2 <= t <= k */
    uint32_t q;      /* signatures on the survivor list a device requires */
    uint32_t bits;   /* the sum is mod 2^bits, 1..32 */
    uint32_t length; /* integers per vector */
    uint32_t round;
} hush_secagg_params;

/* A device's advertised keys. */
typedef struct hush_secagg_keys {
    uint8_t enc_pk[HUSH_SECAGG_PK_BYTES];  /* shares are encrypted to it */
    uint8_t mask_pk[HUSH_SECAGG_PK_BYTES]; /* pairwise masks are agreed with it */
    uint8_t sign_pk[HUSH_SECAGG_PK_BYTES]; /* its survivor-list signature */
} hush_secagg_keys;

/* Shares from device `from` for device `to` (key-list indices). */
typedef struct hush_secagg_box {
    uint32_t from, to;
    uint8_t box[HUSH_SECAGG_BOX_BYTES];
} hush_secagg_box;

/* A survivor's signature on the survivor list. */
typedef struct hush_secagg_sig {
    uint32_t from;
    uint8_t sig[HUSH_SECAGG_SIG_BYTES];
} hush_secagg_sig;

/* What a device reveals about one neighbour at unmasking. */
enum { HUSH_SECAGG_SELF_SHARE = 1, HUSH_SECAGG_KEY_SHARE = 2 };
typedef struct hush_secagg_reveal {
    uint32_t from, about;
    uint8_t kind; /* HUSH_SECAGG_SELF_SHARE (about survived) or _KEY_SHARE */
    uint8_t share[HUSH_SECAGG_SHARE_BYTES];
} hush_secagg_reveal;

/* ---- parameters ---- */

/*
 * The graph degree k, threshold t and signature quorum q for n devices of
 * which a fraction `dropout` may drop out and a fraction `dishonest` may
 * collude with the collector, so that (each bound a union over devices):
 *  - the honest survivors stay connected (no input is isolated): a Harary
 *    graph is cut only by losing k/2 consecutive devices of its order,
 *    n (dropout + dishonest)^(k/2) <= 2^-security;
 *  - an honest device (any one the collector targets) has fewer than t
 *    dishonest neighbours, who with the collector would hold both of its
 *    secrets: P[Bin(k, dishonest) >= t] <= 2^-security;
 *  - every survivor keeps t surviving neighbours (the sum is recovered):
 *    n P[Bin(k, 1 - dropout) < t] <= 2^-correctness;
 *  - q = floor((n + ceil(dishonest n)) / 2) + 1.
 * The smallest such k, and the smallest t for it.  (n = 1,000, 33%
 * dropout, 5% dishonest, 40 and 20: k = 72, t = 23, q = 526; Google's
 * parameter finder gives k = 72, t = 24 from its own bounds.)  k = n - 1 (the complete
 * graph of the original protocol) when n is too small for a sparse one.
 * security 40 and correctness 20 are usual.  HUSH_EINVAL if no k works
 * (the survivors would be fewer than q).
 */
HUSH_API int hush_secagg_choose(uint32_t n, double dropout, double dishonest,
                                unsigned security, unsigned correctness, uint32_t bits,
                                uint32_t length, hush_secagg_params *out, hush_err *err);

/* Whether params are well formed (HUSH_EINVAL with the reason). */
HUSH_API int hush_secagg_params_check(const hush_secagg_params *p, hush_err *err);

/* The session id: a hash of the parameters and the full key list. */
HUSH_API void hush_secagg_session(const hush_secagg_params *p,
                                  const hush_secagg_keys *keys,
                                  uint8_t out[HUSH_SECAGG_SESSION_BYTES]);

/* Device i's neighbours (k of them, ascending) in the session's graph. */
HUSH_API int hush_secagg_neighbours(const hush_secagg_params *p,
                                    const uint8_t session[HUSH_SECAGG_SESSION_BYTES],
                                    uint32_t i, uint32_t *out, hush_err *err);

/* ---- the device ---- */

typedef struct hush_secagg_client hush_secagg_client;

/* What a device accepts (its policy, not the collector's word). */
typedef struct hush_secagg_policy {
    uint32_t min_devices;   /* fewer in the key list: refuse (default 2) */
    uint32_t min_threshold; /* t below this: refuse (default 2) */
    double max_dishonest;   /* q must exceed (n + this n) / 2 (default 0) */
    /* a survivor list shorter than this: refuse to sign it (under
     * distributed DP, the fewest devices whose noise its privacy counts on;
     * default 0: only the quorum q) */
    uint32_t min_survivors;
} hush_secagg_policy;

/* Stage 0: a device with fresh keys (*keys: what it advertises). */
HUSH_API int hush_secagg_client_new(const hush_secagg_policy *policy,
                                    hush_secagg_client **out, hush_secagg_keys *keys,
                                    hush_err *err);
HUSH_API void hush_secagg_client_free(hush_secagg_client *c);

/* Stage 1: the parameters and the key list; *out (k boxes, new) are this
 * device's shares for its neighbours. */
HUSH_API int hush_secagg_client_share(hush_secagg_client *c, const hush_secagg_params *p,
                                      const hush_secagg_keys *keys, hush_secagg_box **out,
                                      size_t *n_out, hush_err *err);

/* Stage 2: the boxes addressed to this device; its input (length values
 * < 2^bits); *y (new, length values) and commit (a hash of its self-mask
 * seed, which lets the collector tell a reconstruction from bad shares)
 * are what it sends. */
HUSH_API int hush_secagg_client_mask(hush_secagg_client *c, const hush_secagg_box *in,
                                     size_t n_in, const uint32_t *input, uint32_t **y,
                                     uint8_t commit[HUSH_SECAGG_SESSION_BYTES],
                                     hush_err *err);

/* Stage 3: the survivor list (ascending indices); its signature. */
HUSH_API int hush_secagg_client_sign(hush_secagg_client *c, const uint32_t *survivors,
                                     size_t n_survivors,
                                     uint8_t sig[HUSH_SECAGG_SIG_BYTES], hush_err *err);

/* Stage 4: signatures on the survivor list and the collector's list of
 * dropped devices; *out (new) reveals one share per neighbour it heard from. */
HUSH_API int hush_secagg_client_unmask(hush_secagg_client *c, const hush_secagg_sig *sigs,
                                       size_t n_sigs, const uint32_t *dropped,
                                       size_t n_dropped, hush_secagg_reveal **out,
                                       size_t *n_out, hush_err *err);

/* This device's index in the key list (after stage 1). */
HUSH_API uint32_t hush_secagg_client_index(const hush_secagg_client *c);

/* ---- the collector ---- */

typedef struct hush_secagg_server hush_secagg_server;

/* A round with params (n: the key list's size) and the key list. */
HUSH_API int hush_secagg_server_new(const hush_secagg_params *p,
                                    const hush_secagg_keys *keys,
                                    hush_secagg_server **out, hush_err *err);
HUSH_API void hush_secagg_server_free(hush_secagg_server *s);

/* Stage 1: a device's boxes (each from `from` to one of its neighbours). */
HUSH_API int hush_secagg_server_add_boxes(hush_secagg_server *s, uint32_t from,
                                          const hush_secagg_box *boxes, size_t n,
                                          hush_err *err);
/* The boxes for device `to` from every device that sent boxes (*out is
 * the server's; valid until the next call). */
HUSH_API int hush_secagg_server_boxes_for(hush_secagg_server *s, uint32_t to,
                                          const hush_secagg_box **out, size_t *n,
                                          hush_err *err);
/* Stage 2: a device's masked vector and its self-mask commitment. */
HUSH_API int
hush_secagg_server_add_masked(hush_secagg_server *s, uint32_t from, const uint32_t *y,
                              const uint8_t commit[HUSH_SECAGG_SESSION_BYTES],
                              hush_err *err);
/* Stage 3: the survivors (ascending; the server's), fixed from here on. */
HUSH_API int hush_secagg_server_survivors(hush_secagg_server *s, const uint32_t **list,
                                          size_t *n, hush_err *err);
HUSH_API int hush_secagg_server_add_sig(hush_secagg_server *s, uint32_t from,
                                        const uint8_t sig[HUSH_SECAGG_SIG_BYTES],
                                        hush_err *err);
/* Stage 4: the signatures to hand out and the dropped devices (the
 * server's), or HUSH_ESTATE if fewer than q signed. */
HUSH_API int hush_secagg_server_unmask_request(hush_secagg_server *s,
                                               const hush_secagg_sig **sigs,
                                               size_t *n_sigs, const uint32_t **dropped,
                                               size_t *n_dropped, hush_err *err);
HUSH_API int hush_secagg_server_add_reveals(hush_secagg_server *s, uint32_t from,
                                            const hush_secagg_reveal *r, size_t n,
                                            hush_err *err);
/* The sum mod 2^bits over the survivors (sum: length values), or
 * HUSH_ESTATE (nothing released) if a secret cannot be reconstructed: too
 * few shares, or shares that do not rebuild the committed seed (a device's
 * self-mask commitment, a dropped device's public masking key).  With more
 * than t shares, one bad share is found and left out. */
HUSH_API int hush_secagg_server_finish(hush_secagg_server *s, uint32_t *sum,
                                       hush_err *err);

/* ---- distributed DP: the distributed discrete Gaussian ---- */

/*
 * So that even the sum the collector unmasks is private, each device adds
 * its share of the noise before masking (Kairouz, Liu, Steinke 2021, "The
 * Distributed Discrete Gaussian Mechanism for Federated Learning with
 * Secure Aggregation"): it clips its update to L2 norm `clip`, rotates it
 * (random signs from the round's public seed, then the orthonormal
 * Walsh-Hadamard transform, so that no coordinate carries much of the
 * norm), scales by 1/gamma, rounds each coordinate up or down at random
 * (unbiased), redrawing until the rounded vector's norm is at most delta2,
 * adds N_Z(0, sigma^2) to every coordinate and reduces mod 2^bits.  The
 * collector decodes the unmasked sum: centred mod 2^bits, times gamma,
 * rotated back.
 *
 * Privacy: with at least n_min devices' noise in the sum, one device's
 * contribution (L2 sensitivity delta2 in lattice units) has Rényi
 * divergence at order a at most
 *     a delta2^2 / (2 n_min sigma^2) + tau d,
 *     tau = 10 sum_{k=1}^{n_min - 1} exp(-2 pi^2 sigma^2 k / (k + 1))
 * (KLS21, Theorem 1: a sum of discrete Gaussians is close to one, not one),
 * d the rotated length.  The sum's noise has standard deviation
 * sqrt(m) sigma gamma per coordinate for m >= n_min contributors.
 */
typedef struct hush_ddg {
    uint32_t dim;     /* the update's length */
    uint32_t padded;  /* the rotated length: the power of two >= dim (secagg length) */
    uint32_t bits;    /* the sum is mod 2^bits */
    uint32_t n_min;   /* the fewest contributors whose noise the guarantee counts */
    uint32_t n_max;   /* the most contributors a sum may hold (wrap-around budget) */
    uint32_t sigma;   /* each device's noise, lattice units */
    double clip;      /* L2 bound of an update, real units */
    double gamma;     /* real units per lattice unit */
    double delta2;    /* L2 bound of a rounded update, lattice units */
    double beta;      /* the rounding bound's slack: exp(-1/2) as in KLS21 */
    uint8_t seed[32]; /* the rotation's signs: public, one per round */
} hush_ddg;

/*
 * A plan for updates of `dim` values clipped to `clip`, summed mod 2^bits
 * over n_min..n_max devices, with the total noise z * delta2 (z the noise
 * multiplier relative to the sensitivity, as in DP-FedAvg) when n_min
 * contribute.  gamma is the finest lattice at which the sum of n_max
 * aligned updates plus its noise stays inside (-2^(bits-1), 2^(bits-1))
 * with probability >= 1 - 1e-9 per coordinate (after the rotation each
 * coordinate of an update is at most clip sqrt(2 ln(2 d n / 1e-9) / d)
 * with that probability).
 */
HUSH_API int hush_ddg_plan(uint32_t dim, double clip, uint32_t n_min, uint32_t n_max,
                           uint32_t bits, double z, const uint8_t seed[32], hush_ddg *out,
                           hush_err *err);

/* One device's contribution: `update` (dim values) clipped, rotated,
 * rounded, noised (rng: the device's own randomness), mod 2^bits into
 * out (padded values). */
HUSH_API int hush_ddg_encode(const hush_ddg *g, const float *update, hush_rng *rng,
                             uint32_t *out, hush_err *err);

/* The sum of the devices' real updates (plus the noise) from the unmasked
 * sum (padded values mod 2^bits) into out (dim values). */
HUSH_API int hush_ddg_decode(const hush_ddg *g, const uint32_t *sum, double *out,
                             hush_err *err);

/* The plan (as hush_ddg_plan) with the smallest noise multiplier *z whose
 * epsilon over `rounds` participations is at most `target` (bisection to
 * 2^-60 of the bracket).  HUSH_ERANGE if even z = 1e4 does not reach it. */
HUSH_API int hush_ddg_plan_for_epsilon(uint32_t dim, double clip, uint32_t n_min,
                                       uint32_t n_max, uint32_t bits, uint64_t rounds,
                                       double delta, double target,
                                       const uint8_t seed[32], hush_ddg *out, double *z,
                                       hush_err *err);

/* Rényi DP at order alpha (> 1) of one round (see above). */
HUSH_API double hush_ddg_rdp(const hush_ddg *g, double alpha);

/* (epsilon, delta) of a device that contributes to `rounds` rounds (the
 * collector sees who takes part: no amplification by sampling), with the
 * conversion of Balle et al. 2020 over the accountant's orders. */
HUSH_API int hush_ddg_epsilon(const hush_ddg *g, uint64_t rounds, double delta,
                              double *epsilon, hush_err *err);

#ifdef __cplusplus
}
#endif

#endif
