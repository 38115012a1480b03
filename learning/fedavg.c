/*
 * fedavg.c - the server's half of federated averaging: DP-FedAvg's
 * accumulator on an integer lattice, adaptive clipping, server optimizers.
 *
 * With DP (noise multiplier z > 0) each accepted update is truncated
 * toward zero on the lattice of step gamma = z S / L and added to int64
 * sums; the round's result is gamma (sum + N_Z(0, L^2)) per coordinate: in
 * real units, noise of standard deviation z S around a sum whose L2
 * sensitivity to any one update is at most S (truncation never raises a
 * norm).  L = max(1024, ceil(1024 z sqrt(d))) (at most the sampler's 2^20):
 * truncation moves an update by less than gamma sqrt(d) <= S / 1024 in L2,
 * so the rounding bias of the sum stays near 0.1% of its norm whether the
 * updates agree or not (with L fixed at 1024, an MLP-1024 update lost 92% of
 * its coordinates).  The mean divides by the expected number of clients, a
 * constant, so the count of updates does not enter the output unnoised
 * (McMahan et al. 2018).
 *
 * Adaptive clipping (Andrew et al. 2021) releases the count of unclipped
 * updates.  Its noise split z_update = (z^-2 - (2 sigma_b)^-2)^(-1/2)
 * assumes each client moves the released count by 1/2, so the bits are
 * centred: the sum of (2b - 1) (sensitivity 1, an integer) gets
 * N_Z(0, ceil(2 sigma_b)^2), and the share is (that + noise) / (2 m) + 1/2
 * (as TF Privacy's quantile estimator sums b - 1/2).  Summing raw 0/1 bits
 * would have sensitivity 1 at noise sigma_b: twice the privacy loss the
 * split accounts for.
 */
#include <math.h>

#include "learning_internal.h"

#define LATTICE_SIGMA_MIN 1024u
#define LATTICE_SIGMA_MAX (1u << 20) /* the discrete Gaussian sampler's range */

struct hush_fedavg {
    hush_fedavg_config cfg;
    double gamma;           /* lattice step (DP) */
    uint32_t lattice_sigma; /* the noise's std in lattice units */
    int64_t *isum;          /* DP: lattice sums */
    double *fsum;           /* no DP: plain sums */
    uint32_t count, unclipped;
};

static uint32_t lattice_sigma(double z, size_t dim)
{
    double l = ceil(LATTICE_SIGMA_MIN * z * sqrt((double)dim));
    if (!(l >= LATTICE_SIGMA_MIN)) {
        return LATTICE_SIGMA_MIN;
    }
    return l > LATTICE_SIGMA_MAX ? LATTICE_SIGMA_MAX : (uint32_t)l;
}

double hush_fedavg_rounding_bound(double z, size_t dim)
{
    if (!(z > 0)) {
        return 0;
    }
    /* per update, relative to the clip: gamma sqrt(d) / S = z sqrt(d) / L */
    return z * sqrt((double)dim) / lattice_sigma(z, dim);
}

int hush_fedavg_new(const hush_fedavg_config *cfg, hush_fedavg **out, hush_err *err)
{
    if (cfg->dim == 0 || cfg->dim > HUSH_MODEL_MAX_PARAMS || !(cfg->clip > 0) ||
        !isfinite(cfg->clip) || !(cfg->noise_multiplier >= 0) ||
        !isfinite(cfg->noise_multiplier) || !(cfg->bit_noise >= 0)) {
        return hush_err_set(
            err, HUSH_ERANGE,
            "an aggregator needs 1 to %u coordinates, a positive clip and a "
            "non-negative noise multiplier",
            HUSH_MODEL_MAX_PARAMS);
    }
    if (cfg->noise_multiplier > 0 && cfg->expected_clients == 0) {
        return hush_err_set(
            err, HUSH_EINVAL,
            "DP averaging divides by the expected number of clients: set it");
    }
    if (cfg->bit_noise > 0 && cfg->expected_clients == 0) {
        return hush_err_set(err, HUSH_EINVAL,
                            "a noised unclipped count divides by the expected number of "
                            "clients: set it");
    }
    if (hush_fedavg_rounding_bound(cfg->noise_multiplier, cfg->dim) > 0.01) {
        return hush_err_set(err, HUSH_ERANGE,
                            "z = %g over %zu coordinates needs a lattice finer than the "
                            "noise sampler allows (rounding bias above 1%%)",
                            cfg->noise_multiplier, cfg->dim);
    }
    if (2 * cfg->bit_noise + 1 > (double)LATTICE_SIGMA_MAX) {
        return hush_err_set(err, HUSH_ERANGE, "bit_noise %g is out of range",
                            cfg->bit_noise);
    }
    hush_fedavg *a = hush_calloc(1, sizeof *a);
    if (a == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory for an aggregator");
    }
    a->cfg = *cfg;
    if (cfg->noise_multiplier > 0) {
        a->lattice_sigma = lattice_sigma(cfg->noise_multiplier, cfg->dim);
        a->gamma = cfg->noise_multiplier * cfg->clip / a->lattice_sigma;
        a->isum = hush_calloc(cfg->dim, sizeof *a->isum);
    } else {
        a->fsum = hush_calloc(cfg->dim, sizeof *a->fsum);
    }
    if (a->isum == NULL && a->fsum == NULL) {
        hush_free(a);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory for an aggregator of %zu",
                            cfg->dim);
    }
    *out = a;
    return 0;
}

void hush_fedavg_free(hush_fedavg *a)
{
    if (a != NULL) {
        hush_free(a->isum);
        hush_free(a->fsum);
        hush_free(a);
    }
}

uint32_t hush_fedavg_count(const hush_fedavg *a)
{
    return a->count;
}

double hush_fedavg_lattice_step(double z, double clip, size_t dim)
{
    if (!(z > 0) || dim == 0) {
        return 0;
    }
    return z * clip / lattice_sigma(z, dim);
}

int hush_fedavg_add_lattice(hush_fedavg *a, const int32_t *k, uint32_t shift,
                            bool unclipped, hush_err *err)
{
    const size_t n = a->cfg.dim;
    if (a->isum == NULL) {
        return hush_err_set(err, HUSH_EINVAL,
                            "lattice integers need DP aggregation (a noise multiplier)");
    }
    if (shift > HUSH_LATTICE_SHIFT_MAX) {
        return hush_err_set(err, HUSH_ERANGE, "a lattice shift is 0 to %u, not %u",
                            HUSH_LATTICE_SHIFT_MAX, shift);
    }
    /* the norm in real units, from the integers themselves (exact in a
     * double: each square is below 2^62 and the sum's relative error is
     * far inside the slack) */
    double step = a->gamma * (double)(1u << shift), norm2 = 0;
    for (size_t i = 0; i < n; i++) {
        double v = (double)k[i] * step;
        norm2 += v * v;
    }
    double norm = sqrt(norm2);
    if (norm > a->cfg.clip * (1 + 1e-6)) {
        return hush_err_set(err, HUSH_ERANGE,
                            "the update's L2 norm %.6g exceeds the clip norm %.6g", norm,
                            a->cfg.clip);
    }
    for (size_t i = 0; i < n; i++) {
        a->isum[i] += (int64_t)k[i] * ((int64_t)1 << shift);
    }
    a->count++;
    a->unclipped += unclipped;
    return 0;
}

int hush_fedavg_add(hush_fedavg *a, const float *u, bool unclipped, hush_err *err)
{
    const size_t n = a->cfg.dim;
    double norm2 = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(u[i])) {
            return hush_err_set(err, HUSH_ERANGE,
                                "coordinate %zu of the update is not finite", i);
        }
        norm2 += (double)u[i] * u[i];
    }
    double norm = sqrt(norm2);
    if (norm > a->cfg.clip * (1 + 1e-6)) {
        return hush_err_set(err, HUSH_ERANGE,
                            "the update's L2 norm %.6g exceeds the clip norm %.6g", norm,
                            a->cfg.clip);
    }
    if (a->isum != NULL) {
        const double inv = 1.0 / a->gamma;
        for (size_t i = 0; i < n; i++) {
            a->isum[i] += (int64_t)((double)u[i] * inv); /* truncates toward zero */
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            a->fsum[i] += u[i];
        }
    }
    a->count++;
    a->unclipped += unclipped;
    return 0;
}

int hush_fedavg_finish(hush_fedavg *a, hush_rng *rng, float *mean,
                       double *unclipped_share, hush_err *err)
{
    const size_t n = a->cfg.dim;
    if (a->count == 0 && a->cfg.noise_multiplier == 0) {
        return hush_err_set(err, HUSH_ESTATE, "no updates to average");
    }
    double denom =
        a->cfg.expected_clients > 0 ? (double)a->cfg.expected_clients : (double)a->count;
    if (a->isum != NULL) {
        for (size_t i = 0; i < n; i++) {
            int64_t noisy = a->isum[i] + hush_discrete_gaussian(rng, a->lattice_sigma);
            mean[i] = (float)((double)noisy * a->gamma / denom);
            a->isum[i] = 0;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            mean[i] = (float)(a->fsum[i] / denom);
            a->fsum[i] = 0;
        }
    }
    if (unclipped_share != NULL) {
        if (a->cfg.bit_noise > 0) {
            /* centred bits: sensitivity 1 in (2b - 1), noise 2 sigma_b */
            uint32_t bs = (uint32_t)ceil(2 * a->cfg.bit_noise);
            int64_t centred = 2 * (int64_t)a->unclipped - (int64_t)a->count;
            double noisy = (double)centred + (double)hush_discrete_gaussian(rng, bs);
            *unclipped_share = noisy / (2.0 * (double)a->cfg.expected_clients) + 0.5;
        } else {
            *unclipped_share = a->count > 0 ? (double)a->unclipped / a->count : NAN;
        }
    }
    a->count = 0;
    a->unclipped = 0;
    return 0;
}

double hush_adaptive_clip_next(double clip, double unclipped_share,
                               double target_quantile, double lr)
{
    if (!isfinite(unclipped_share)) {
        return clip;
    }
    return clip * exp(-lr * (unclipped_share - target_quantile));
}

int hush_adaptive_noise_split(double z, double bit_noise, double *z_update, hush_err *err)
{
    if (!(z > 0) || !(2 * bit_noise > z)) {
        return hush_err_set(
            err, HUSH_ERANGE,
            "adaptive clipping needs 2 x bit_noise > z (got z=%g, bit_noise=%g)", z,
            bit_noise);
    }
    *z_update = 1.0 / sqrt(1.0 / (z * z) - 1.0 / (4 * bit_noise * bit_noise));
    return 0;
}

struct hush_server_opt {
    hush_server_opt_kind kind;
    size_t dim;
    double lr;
    float *m, *v; /* FedAdam moments, one array of 2 dim */
};

int hush_server_opt_new(hush_server_opt_kind kind, size_t dim, double lr,
                        hush_server_opt **out, hush_err *err)
{
    if ((kind != HUSH_SERVER_FEDAVG && kind != HUSH_SERVER_FEDADAM) || dim == 0 ||
        !(lr > 0) || !isfinite(lr)) {
        return hush_err_set(err, HUSH_EINVAL,
                            "a server optimizer is fedavg or fedadam with "
                            "a positive learning rate");
    }
    hush_server_opt *o = hush_calloc(1, sizeof *o);
    if (o == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory for an optimizer");
    }
    o->kind = kind;
    o->dim = dim;
    o->lr = lr;
    if (kind == HUSH_SERVER_FEDADAM) {
        o->m = hush_calloc(2 * dim, sizeof *o->m);
        if (o->m == NULL) {
            hush_free(o);
            return hush_err_set(err, HUSH_ENOMEM, "out of memory for an optimizer");
        }
        o->v = o->m + dim;
    }
    *out = o;
    return 0;
}

void hush_server_opt_free(hush_server_opt *o)
{
    if (o != NULL) {
        hush_free(o->m);
        hush_free(o);
    }
}

void hush_server_opt_step(hush_server_opt *o, float *w, const float *mean)
{
    if (o->kind == HUSH_SERVER_FEDAVG) {
        for (size_t i = 0; i < o->dim; i++) {
            w[i] += (float)(o->lr * mean[i]);
        }
        return;
    }
    const float b1 = 0.9f, b2 = 0.99f, tau = 1e-3f;
    for (size_t i = 0; i < o->dim; i++) {
        o->m[i] = b1 * o->m[i] + (1 - b1) * mean[i];
        o->v[i] = b2 * o->v[i] + (1 - b2) * mean[i] * mean[i];
        w[i] += (float)(o->lr * o->m[i] / (sqrtf(o->v[i]) + tau));
    }
}

size_t hush_server_opt_state(const hush_server_opt *o, const float **state)
{
    *state = o->m;
    return o->m != NULL ? 2 * o->dim : 0;
}

int hush_server_opt_restore(hush_server_opt *o, const float *state, size_t n,
                            hush_err *err)
{
    if (n != (o->m != NULL ? 2 * o->dim : 0)) {
        return hush_err_set(err, HUSH_EMISMATCH,
                            "the optimizer state has %zu values, not %zu", n,
                            o->m != NULL ? 2 * o->dim : 0);
    }
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(state[i])) {
            return hush_err_set(err, HUSH_ECORRUPT, "the optimizer state is not finite");
        }
    }
    if (n > 0) {
        memcpy(o->m, state, n * sizeof *state);
    }
    return 0;
}
