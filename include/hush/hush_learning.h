/*
 * hush_learning.h - federated learning: small dense models over embedding
 * vectors, local training, update clipping, DP-FedAvg aggregation with
 * adaptive clipping, server optimizers, and the model file format.
 *
 * Models: logistic regression (two classes, one output), softmax
 * regression, and a one-hidden-layer MLP (ReLU), all float32, parameters in
 * one flat array: for the MLP the hidden layer (W1, b1) comes first and the
 * output layer (W2, b2) last; that last part is the *head*
 * (hush_model_head_offset), which FedPer keeps on the device.
 *
 * The training loop allocates nothing: a model owns its scratch (gradient,
 * activations) from creation, and hush_model_train allocates only the
 * example order, once per call.
 *
 * Ownership: _new/_clone/_deserialize return objects freed by the matching
 * _free; char/uint8 outputs are freed with hush_free.  Thread safety: a
 * model is used by one thread at a time (prediction uses its scratch); an
 * aggregator likewise.  Functions return 0 or a negative HUSH_E* code.
 */
#ifndef HUSH_LEARNING_H
#define HUSH_LEARNING_H

#include "hush_common.h"
#include "hush_privacy.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Models                                                                   */
/* ------------------------------------------------------------------------ */

typedef enum hush_model_kind {
    HUSH_MODEL_LOGISTIC = 1, /* classes must be 2; one output, sigmoid */
    HUSH_MODEL_SOFTMAX = 2,  /* classes >= 2 */
    HUSH_MODEL_MLP = 3       /* inputs -> hidden (ReLU) -> classes (softmax) */
} hush_model_kind;

typedef struct hush_model_spec {
    hush_model_kind kind;
    uint32_t inputs;  /* the embedding dimension, 1 .. 65536 */
    uint32_t classes; /* 2 .. 1024 */
    uint32_t hidden;  /* MLP: 1 .. 4096; otherwise 0 */
} hush_model_spec;

#define HUSH_MODEL_MAX_PARAMS (1u << 24)

typedef struct hush_model hush_model;

/** Name of a kind ("logistic", "softmax", "mlp") and the reverse. */
HUSH_API const char *hush_model_kind_name(hush_model_kind kind);
HUSH_API int hush_model_kind_parse(const char *name, hush_model_kind *out,
                                   hush_err *err) HUSH_WARN_UNUSED;

/** Checks a spec: the ranges above and at most HUSH_MODEL_MAX_PARAMS. */
HUSH_API int hush_model_spec_check(const hush_model_spec *spec,
                                   hush_err *err) HUSH_WARN_UNUSED;

/** A new model, weights drawn uniformly in +-sqrt(6/(fan_in+fan_out))
 * (Glorot) from `seed`, biases 0.  *out is new. */
HUSH_API int hush_model_new(const hush_model_spec *spec, uint64_t seed, hush_model **out,
                            hush_err *err) HUSH_WARN_UNUSED;
HUSH_API int hush_model_clone(const hush_model *m, hush_model **out,
                              hush_err *err) HUSH_WARN_UNUSED;
HUSH_API void hush_model_free(hush_model *m);

HUSH_API const hush_model_spec *hush_model_get_spec(const hush_model *m);
/** Number of parameters. */
HUSH_API size_t hush_model_size(const hush_model *m);
/** Parameters [0, head) are the body, [head, size) the output layer. */
HUSH_API size_t hush_model_head_offset(const hush_model *m);
HUSH_API float *hush_model_params(hush_model *m);
HUSH_API const float *hush_model_cparams(const hush_model *m);

/** Class probabilities of one input (`probs` holds `classes` floats). */
HUSH_API void hush_model_predict(hush_model *m, const float *x, float *probs);

/** An MLP's hidden activations (after the ReLU) of one input, `hidden`
 * floats into h: the features its head sees.  HUSH_EINVAL for a model
 * without a body. */
HUSH_API int hush_model_hidden(const hush_model *m, const float *x, float *h);

/** Mean cross-entropy over n examples (row-major x: n x inputs) and, if
 * `grad` is not NULL, its gradient (size floats). */
HUSH_API double hush_model_loss_grad(hush_model *m, const float *x, const uint32_t *y,
                                     size_t n, float *grad);

/** Share of the n examples whose most probable class is the label. */
HUSH_API double hush_model_accuracy(hush_model *m, const float *x, const uint32_t *y,
                                    size_t n);

typedef struct hush_train_options {
    uint32_t epochs;    /* passes over the data; 0 = 1 */
    uint32_t batch;     /* minibatch size; 0 = 16 */
    float lr;           /* SGD step; 0 = 0.1 */
    float l2;           /* weight decay */
    const float *prox;  /* pull toward these parameters (Ditto, FedProx); NULL = none */
    float prox_mu;      /* strength of that pull */
    bool head_only;     /* train only the head (the body stays) */
    double max_seconds; /* compute budget: stop after this long; 0 = none */
    uint32_t max_steps; /* compute budget in minibatch steps; 0 = none */
} hush_train_options;

/**
 * Minibatch SGD on n labelled examples, in an order drawn from `rng`.
 * *steps (optional) gets the steps taken (fewer when a budget stopped it).
 * Returns 0, HUSH_EINVAL (a label >= classes, no examples), HUSH_ENOMEM.
 */
HUSH_API int hush_model_train(hush_model *m, const float *x, const uint32_t *y, size_t n,
                              const hush_train_options *options, hush_rng *rng,
                              uint32_t *steps, hush_err *err) HUSH_WARN_UNUSED;

/* ------------------------------------------------------------------------ */
/* Updates                                                                  */
/* ------------------------------------------------------------------------ */

HUSH_API double hush_l2_norm(const float *v, size_t n);

/** Scales v so that its L2 norm is at most max_norm; returns the norm it
 * had.  A non-finite vector is zeroed (and its norm returned as INFINITY). */
HUSH_API double hush_clip_l2(float *v, size_t n, double max_norm);

/** out = local - global, n floats. */
HUSH_API void hush_update_delta(const float *local, const float *global, float *out,
                                size_t n);

/** n floats as base64 of little-endian float32: new string. */
HUSH_API char *hush_vec_to_base64(const float *v, size_t n);
/** Decodes exactly n floats; HUSH_EINVAL for bad base64 or another length,
 * HUSH_ERANGE for a NaN or infinity. */
HUSH_API int hush_vec_from_base64(const char *b64, size_t len, float *out, size_t n,
                                  hush_err *err) HUSH_WARN_UNUSED;

/**
 * Local DP: the device's own noise, on the lattice of step gamma =
 * z * clip / 1024 (like the server's, docs/privacy.md): v (clipped to
 * `clip`) is truncated to the lattice and discrete Gaussian noise of
 * standard deviation z * clip is added.  One release is (epsilon, delta)-DP
 * for any change of the device's data with epsilon from the Gaussian
 * mechanism at sensitivity 2 clip: hush_local_dp_epsilon.
 */
HUSH_API void hush_local_dp_noise(float *v, size_t n, double clip, double z,
                                  hush_rng *rng);
HUSH_API double hush_local_dp_epsilon(double z, double delta);

/* ------------------------------------------------------------------------ */
/* DP-FedAvg aggregation                                                    */
/* ------------------------------------------------------------------------ */

typedef struct hush_fedavg_config {
    size_t dim;                /* update length */
    double clip;               /* S: an update's L2 norm may not exceed it */
    double noise_multiplier;   /* z: noise N_Z(0, (z S)^2) per coordinate; 0 = no DP */
    uint32_t expected_clients; /* DP: the fixed denominator (q N); 0 = the count */
    double bit_noise;          /* adaptive clipping: sigma_b, the std of the noise on
                                  the count of unclipped updates, each counted as
                                  b - 1/2 (sensitivity 1/2; internally the sum of
                                  2b - 1 with noise ceil(2 sigma_b)); 0 = the
                                  count is released without noise (no DP) */
} hush_fedavg_config;

/** The relative rounding bound of DP aggregation with noise multiplier z
 * over d coordinates: truncation to the lattice moves one update by at most
 * this share of the clip in L2 (about 1/1024; 0 without noise). */
HUSH_API double hush_fedavg_rounding_bound(double z, size_t dim);

typedef struct hush_fedavg hush_fedavg;

HUSH_API int hush_fedavg_new(const hush_fedavg_config *cfg, hush_fedavg **out,
                             hush_err *err) HUSH_WARN_UNUSED;
HUSH_API void hush_fedavg_free(hush_fedavg *a);

/**
 * Adds one update.  Refused without touching the sum: wrong length is the
 * caller's to check; a NaN or infinity (HUSH_ERANGE), a norm above the
 * clip (HUSH_ERANGE; 1e-6 relative slack for rounding).  With DP each
 * coordinate is truncated toward zero on the lattice of step z S / L first
 * (L = max(1024, ceil(1024 z sqrt(dim))), so an update moves by at most
 * S / 1024), and the sum's sensitivity in lattice units is L / z.
 * `unclipped` is the client's bit for adaptive clipping.
 */
HUSH_API int hush_fedavg_add(hush_fedavg *a, const float *update, bool unclipped,
                             hush_err *err) HUSH_WARN_UNUSED;
HUSH_API uint32_t hush_fedavg_count(const hush_fedavg *a);

/** The lattice step of DP aggregation, gamma = z S / L with L as above (0
 * without noise): what a device needs to send its update as lattice
 * integers (hush_lattice_quantize). */
HUSH_API double hush_fedavg_lattice_step(double z, double clip, size_t dim);

/**
 * Adds one update sent as lattice integers: coordinate i is k[i] 2^shift
 * lattice steps (hush_lattice_quantize).  With shift 0 the sum is exactly
 * the one hush_fedavg_add makes of the floats the integers came from.
 * Refused without touching the sum: an aggregator without DP (no lattice),
 * shift above HUSH_LATTICE_SHIFT_MAX, or a norm gamma 2^shift |k| above the
 * clip (HUSH_ERANGE, the same slack as hush_fedavg_add): the sensitivity
 * the noise is sized for holds whatever the device sent.
 */
HUSH_API int hush_fedavg_add_lattice(hush_fedavg *a, const int32_t *k, uint32_t shift,
                                     bool unclipped, hush_err *err) HUSH_WARN_UNUSED;

/* ------------------------------------------------------------------------ */
/* Updates as lattice integers (the upload of DP-FedAvg)                    */
/* ------------------------------------------------------------------------ */

#define HUSH_LATTICE_SHIFT_MAX 16

/**
 * A clipped update as integers on the server's lattice (step gamma, from
 * hush_fedavg_lattice_step), 2^shift steps per unit:
 *   shift 0: truncation toward zero, exactly what the server does to a
 *            float update, so the server's sum is bit-identical (lossless
 *            with respect to what the server keeps); `rng` is unused;
 *   shift s: unbiased randomized rounding to multiples of 2^s steps, the
 *            update first clipped to S - gamma 2^s sqrt(n) so that no draw
 *            can leave the clip S: the noise, the sensitivity and the
 *            accountant are unchanged; the rounding adds variance of at most
 *            (gamma 2^s)^2 / 4 per coordinate and update, and the tighter
 *            clip is the accuracy it costs.
 * `u` (n floats, norm at most clip) is not changed.  Returns 0, HUSH_ERANGE
 * (shift too coarse for the clip, or a coordinate beyond int32).
 */
HUSH_API int hush_lattice_quantize(const float *u, size_t n, double clip, double gamma,
                                   uint32_t shift, hush_rng *rng, int32_t *k,
                                   hush_err *err) HUSH_WARN_UNUSED;

/**
 * Lattice integers as bytes: a version byte (1), the Rice parameter r,
 * the count (u32 LE), then per integer its zigzag value z as a Rice code
 * (z >> r in unary, up to 31 ones, then a zero and the low r bits; 31 ones
 * escape to the full 32 bits), LSB first, zero-padded to a byte.  r is the
 * one that makes the stream shortest.  *out is new (hush_free).
 */
HUSH_API int hush_lattice_pack(const int32_t *k, size_t n, uint8_t **out, size_t *len,
                               hush_err *err) HUSH_WARN_UNUSED;
/** The reverse, for exactly n integers; anything else (another version or
 * count, a truncated or over-long stream, non-zero padding, an escape that
 * a shorter code would have held) is HUSH_EINVAL. */
HUSH_API int hush_lattice_unpack(const uint8_t *in, size_t len, size_t n, int32_t *k,
                                 hush_err *err) HUSH_WARN_UNUSED;

/**
 * The round's mean update: (sum + noise) / denominator into `mean` (dim
 * floats), and the share of unclipped updates (for adaptive clipping):
 * with bit_noise, (sum of (2b - 1) + N_Z(0, ceil(2 bit_noise)^2)) / (2 m) +
 * 1/2 over the expected clients m; without, the exact share (NAN without
 * updates).  Resets the accumulator.
 */
HUSH_API int hush_fedavg_finish(hush_fedavg *a, hush_rng *rng, float *mean,
                                double *unclipped_share, hush_err *err) HUSH_WARN_UNUSED;

/** Adaptive clipping (Andrew et al. 2021): C <- C exp(-lr (b - gamma)),
 * b the (noisy) share of unclipped updates, gamma the target quantile. */
HUSH_API double hush_adaptive_clip_next(double clip, double unclipped_share,
                                        double target_quantile, double lr);

/** The update noise multiplier left when the bit count takes noise of std
 * bit_noise: z_update = (z^-2 - (2 bit_noise)^-2)^(-1/2), so that the pair
 * is as private as one Gaussian of multiplier z.  HUSH_ERANGE if bit_noise
 * is too small (2 bit_noise <= z). */
HUSH_API int hush_adaptive_noise_split(double z, double bit_noise, double *z_update,
                                       hush_err *err) HUSH_WARN_UNUSED;

/* ------------------------------------------------------------------------ */
/* Server optimizers                                                        */
/* ------------------------------------------------------------------------ */

typedef enum hush_server_opt_kind {
    HUSH_SERVER_FEDAVG = 1,
    HUSH_SERVER_FEDADAM = 2
} hush_server_opt_kind;

typedef struct hush_server_opt hush_server_opt;

/** FedAvg: w += lr * mean.  FedAdam (Reddi et al. 2021): Adam moments of
 * the mean update, w += lr * m / (sqrt(v) + tau); beta1 0.9, beta2 0.99,
 * tau 1e-3. */
HUSH_API int hush_server_opt_new(hush_server_opt_kind kind, size_t dim, double lr,
                                 hush_server_opt **out, hush_err *err) HUSH_WARN_UNUSED;
HUSH_API void hush_server_opt_free(hush_server_opt *o);
HUSH_API void hush_server_opt_step(hush_server_opt *o, float *params, const float *mean);
/** The optimizer's state (FedAdam moments) as bytes, to persist it. */
HUSH_API size_t hush_server_opt_state(const hush_server_opt *o, const float **state);
HUSH_API int hush_server_opt_restore(hush_server_opt *o, const float *state, size_t n,
                                     hush_err *err) HUSH_WARN_UNUSED;

/* ------------------------------------------------------------------------ */
/* The model format                                                         */
/* ------------------------------------------------------------------------ */

/**
 * "HUSHMDL1", version, kind, inputs, classes, hidden, the parameters as
 * little-endian float32, and an XXH3-64 checksum of everything before it.
 * *out is new (hush_free).
 */
HUSH_API int hush_model_serialize(const hush_model *m, uint8_t **out, size_t *len,
                                  hush_err *err) HUSH_WARN_UNUSED;
/** Parses and checks (magic, version, spec, length, checksum, finite
 * parameters).  HUSH_ECORRUPT/HUSH_EVERSION/HUSH_EINVAL. */
HUSH_API int hush_model_deserialize(const uint8_t *buf, size_t len, hush_model **out,
                                    hush_err *err) HUSH_WARN_UNUSED;
/** The same as base64 text. */
HUSH_API int hush_model_to_base64(const hush_model *m, char **out,
                                  hush_err *err) HUSH_WARN_UNUSED;
HUSH_API int hush_model_from_base64(const char *b64, size_t len, hush_model **out,
                                    hush_err *err) HUSH_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif /* HUSH_LEARNING_H */
