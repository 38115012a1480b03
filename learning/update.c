/*
 * update.c - what a device does to a trained model before anything leaves
 * it: the update (local - global), its L2 clipping, its wire form, and the
 * local DP option's noise.
 */
#include <math.h>
#include <sodium.h>

#include "learning_internal.h"

double hush_l2_norm(const float *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        s += (double)v[i] * v[i];
    }
    return sqrt(s);
}

double hush_clip_l2(float *v, size_t n, double max_norm)
{
    double norm = hush_l2_norm(v, n);
    if (!isfinite(norm)) {
        memset(v, 0, n * sizeof *v);
        return INFINITY;
    }
    if (norm > max_norm && norm > 0) {
        /* scale, then make sure rounding did not leave it a hair above */
        double f = max_norm / norm;
        for (int pass = 0; pass < 4; pass++) {
            for (size_t i = 0; i < n; i++) {
                v[i] = (float)(v[i] * f);
            }
            double now = hush_l2_norm(v, n);
            if (now <= max_norm) {
                break;
            }
            f = (max_norm / now) * (1 - 1e-7);
        }
    }
    return norm;
}

void hush_update_delta(const float *local, const float *global, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[i] = local[i] - global[i];
    }
}

char *hush_vec_to_base64(const float *v, size_t n)
{
    uint8_t *bytes = hush_malloc(n * 4 + 1);
    if (bytes == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        hush_store_le32(bytes + 4 * i, u);
    }
    size_t cap = sodium_base64_ENCODED_LEN(n * 4, sodium_base64_VARIANT_ORIGINAL);
    char *out = hush_malloc(cap);
    if (out != NULL) {
        sodium_bin2base64(out, cap, bytes, n * 4, sodium_base64_VARIANT_ORIGINAL);
    }
    hush_free(bytes);
    return out;
}

int hush_vec_from_base64(const char *b64, size_t len, float *out, size_t n, hush_err *err)
{
    if (len != sodium_base64_ENCODED_LEN(n * 4, sodium_base64_VARIANT_ORIGINAL) - 1) {
        return hush_err_set(
            err, HUSH_EINVAL,
            "an update of %zu floats is %zu characters of base64 (got %zu)", n,
            sodium_base64_ENCODED_LEN(n * 4, sodium_base64_VARIANT_ORIGINAL) - 1, len);
    }
    uint8_t *bytes = hush_malloc(n * 4 + 4);
    if (bytes == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory decoding an update");
    }
    size_t got = 0;
    const char *end = NULL;
    int rc = 0;
    if (sodium_base642bin(bytes, n * 4 + 4, b64, len, NULL, &got, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != b64 + len || got != n * 4) {
        rc = hush_err_set(err, HUSH_EINVAL, "the update is not %zu floats of base64", n);
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        uint32_t u = hush_load_le32(bytes + 4 * i);
        memcpy(&out[i], &u, 4);
        if (!isfinite(out[i])) {
            rc = hush_err_set(err, HUSH_ERANGE,
                              "coordinate %zu of the update is not finite", i);
        }
    }
    hush_free(bytes);
    return rc;
}

void hush_local_dp_noise(float *v, size_t n, double clip, double z, hush_rng *rng)
{
    (void)hush_clip_l2(v, n, clip);
    if (!(z > 0)) {
        return;
    }
    double gamma = z * clip / 1024.0;
    for (size_t i = 0; i < n; i++) {
        double t = trunc((double)v[i] / gamma);
        v[i] = (float)((t + (double)hush_discrete_gaussian(rng, 1024)) * gamma);
    }
}

double hush_local_dp_epsilon(double z, double delta)
{
    /* the Gaussian mechanism at sensitivity 2 clip and noise z clip: RDP
     * alpha * 4 / (2 z^2), converted as in rdp.c */
    if (!(z > 0) || !(delta > 0 && delta < 1)) {
        return INFINITY;
    }
    const double *orders = NULL;
    size_t k = hush_rdp_default_orders(&orders);
    double best = INFINITY;
    for (size_t i = 0; i < k; i++) {
        double a = orders[i];
        double e = a * 2.0 / (z * z) + log1p(-1.0 / a) - (log(delta) + log(a)) / (a - 1);
        best = e < best ? e : best;
    }
    return best > 0 ? best : 0;
}
