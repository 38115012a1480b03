/*
 * test_learning.c - models (gradients against finite differences,
 * training), clipping, the wire and file formats, DP-FedAvg aggregation
 * (exactness without noise, the noise's variance with it, refusals), and
 * adaptive clipping's convergence to its target quantile.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "hush_learning.h"

static hush_rng *seeded(uint64_t s)
{
    hush_rng *r = NULL;
    cr_assert_eq(hush_rng_new_seeded_u64(s, &r), 0);
    return r;
}

/* n examples in d dimensions: class k has its mean at +1 on coordinate k. */
static void dataset(hush_rng *rng, size_t n, uint32_t d, uint32_t classes, float *x,
                    uint32_t *y, double noise)
{
    for (size_t i = 0; i < n; i++) {
        y[i] = (uint32_t)hush_rng_uniform(rng, classes);
        for (uint32_t j = 0; j < d; j++) {
            double u1 = hush_rng_unit(rng) + 1e-12, u2 = hush_rng_unit(rng);
            double g = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
            x[i * d + j] = (float)((j == y[i] ? 1.0 : 0.0) + noise * g);
        }
    }
}

static void check_gradient(hush_model_kind kind, uint32_t classes, uint32_t hidden)
{
    enum { N = 12, D = 6 };
    hush_model_spec spec = {
        .kind = kind, .inputs = D, .classes = classes, .hidden = hidden};
    hush_model *m = NULL;
    hush_err err = {0};
    cr_assert_eq(hush_model_new(&spec, 3, &m, &err), 0, "%s", err.msg);
    hush_rng *rng = seeded(9);
    float x[N * D];
    uint32_t y[N];
    dataset(rng, N, D, classes, x, y, 0.5);
    size_t P = hush_model_size(m);
    float *g = malloc(P * sizeof *g);
    (void)hush_model_loss_grad(m, x, y, N, g);
    float *p = hush_model_params(m);
    /* central differences around float parameters: the error is O(h^2) plus
     * float rounding of the loss (~1e-7 relative) / h; h small enough that a
     * ReLU rarely changes side */
    const float h = 1e-3f;
    double worst = 0;
    for (size_t i = 0; i < P; i++) {
        float keep = p[i];
        p[i] = keep + h;
        double up = hush_model_loss_grad(m, x, y, N, NULL);
        p[i] = keep - h;
        double down = hush_model_loss_grad(m, x, y, N, NULL);
        p[i] = keep;
        double fd = (up - down) / (2.0 * h);
        double diff = fabs(fd - g[i]) / (fabs(fd) + fabs(g[i]) + 1e-3);
        worst = diff > worst ? diff : worst;
    }
    cr_assert_lt(worst, 2e-2, "%s: worst relative gradient error %g",
                 hush_model_kind_name(kind), worst);
    free(g);
    hush_rng_free(rng);
    hush_model_free(m);
}

Test(learning, gradients_match_finite_differences)
{
    check_gradient(HUSH_MODEL_LOGISTIC, 2, 0);
    check_gradient(HUSH_MODEL_SOFTMAX, 4, 0);
    check_gradient(HUSH_MODEL_MLP, 3, 5);
}

Test(learning, training_learns_and_respects_its_budget)
{
    enum { N = 600, D = 8 };
    hush_rng *rng = seeded(1);
    static float x[N * D];
    static uint32_t y[N];
    dataset(rng, N, D, 4, x, y, 0.25);
    hush_model_kind kinds[] = {HUSH_MODEL_SOFTMAX, HUSH_MODEL_MLP};
    for (int k = 0; k < 2; k++) {
        hush_model_spec spec = {.kind = kinds[k],
                                .inputs = D,
                                .classes = 4,
                                .hidden = kinds[k] == HUSH_MODEL_MLP ? 16 : 0};
        hush_model *m = NULL;
        cr_assert_eq(hush_model_new(&spec, 5, &m, NULL), 0);
        double before = hush_model_loss_grad(m, x, y, N, NULL);
        hush_train_options o = {.epochs = 20, .batch = 16, .lr = 0.2f};
        uint32_t steps = 0;
        cr_assert_eq(hush_model_train(m, x, y, N, &o, rng, &steps, NULL), 0);
        cr_assert_eq(steps, 20 * ((N + 15) / 16));
        double after = hush_model_loss_grad(m, x, y, N, NULL);
        double acc = hush_model_accuracy(m, x, y, N);
        cr_assert(after < 0.5 * before && acc > 0.95, "%s: loss %g -> %g, accuracy %g",
                  hush_model_kind_name(kinds[k]), before, after, acc);
        o.max_steps = 7;
        cr_assert_eq(hush_model_train(m, x, y, N, &o, rng, &steps, NULL), 0);
        cr_assert_eq(steps, 7, "the step budget stops training");
        /* head only: the body does not move */
        float *body = malloc(hush_model_head_offset(m) * sizeof *body + 1);
        memcpy(body, hush_model_params(m), hush_model_head_offset(m) * sizeof *body);
        o.head_only = true;
        cr_assert_eq(hush_model_train(m, x, y, N, &o, rng, NULL, NULL), 0);
        cr_assert_eq(
            memcmp(body, hush_model_params(m), hush_model_head_offset(m) * sizeof *body),
            0);
        free(body);
        uint32_t bad = 9;
        hush_err err = {0};
        cr_assert_eq(hush_model_train(m, x, &bad, 1, &o, rng, NULL, &err), HUSH_EINVAL);
        hush_model_free(m);
    }
    hush_model_spec bad = {.kind = HUSH_MODEL_LOGISTIC, .inputs = 4, .classes = 3};
    hush_model *m = NULL;
    cr_assert_eq(hush_model_new(&bad, 1, &m, NULL), HUSH_EINVAL);
    bad = (hush_model_spec){
        .kind = HUSH_MODEL_MLP, .inputs = 65536, .classes = 1024, .hidden = 4096};
    cr_assert_eq(hush_model_new(&bad, 1, &m, NULL), HUSH_ETOOBIG);
    hush_rng_free(rng);
}

Test(learning, clipping)
{
    float v[4] = {3, 4, 0, 0};
    cr_assert_float_eq(hush_clip_l2(v, 4, 10), 5, 1e-9);
    cr_assert_float_eq(v[0], 3, 0, "below the clip: unchanged");
    cr_assert_float_eq(hush_clip_l2(v, 4, 1), 5, 1e-9);
    cr_assert_leq(hush_l2_norm(v, 4), 1.0);
    cr_assert_float_eq(v[0] / v[1], 0.75, 1e-6, "the direction stays");
    float w[3] = {1, NAN, 2};
    cr_assert(isinf(hush_clip_l2(w, 3, 1)));
    cr_assert(w[0] == 0 && w[2] == 0, "a non-finite update is zeroed");
    /* clipping lands at or under the clip for awkward values too */
    hush_rng *rng = seeded(4);
    float big[1000];
    for (int t = 0; t < 50; t++) {
        for (int i = 0; i < 1000; i++) {
            big[i] = (float)((hush_rng_unit(rng) - 0.5) * pow(10, (double)(t % 7)));
        }
        (void)hush_clip_l2(big, 1000, 0.37);
        cr_assert_leq(hush_l2_norm(big, 1000), 0.37);
    }
    hush_rng_free(rng);
}

Test(learning, formats_round_trip_and_refuse_damage)
{
    hush_model_spec spec = {
        .kind = HUSH_MODEL_MLP, .inputs = 5, .classes = 3, .hidden = 4};
    hush_model *m = NULL, *back = NULL;
    cr_assert_eq(hush_model_new(&spec, 8, &m, NULL), 0);
    char *b64 = NULL;
    hush_err err = {0};
    cr_assert_eq(hush_model_to_base64(m, &b64, &err), 0);
    cr_assert_eq(hush_model_from_base64(b64, strlen(b64), &back, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(hush_model_cparams(m), hush_model_cparams(back),
                        hush_model_size(m) * sizeof(float)),
                 0);
    hush_model_free(back);
    uint8_t *bytes = NULL;
    size_t len = 0;
    cr_assert_eq(hush_model_serialize(m, &bytes, &len, NULL), 0);
    for (size_t i = 0; i < len; i += 7) {
        bytes[i] ^= 0x10;
        hush_err_clear(&err);
        int rc = hush_model_deserialize(bytes, len, &back, &err);
        cr_assert(rc == HUSH_ECORRUPT || rc == HUSH_EVERSION || rc == HUSH_EINVAL ||
                      rc == HUSH_ERANGE || rc == HUSH_ETOOBIG,
                  "flipped byte %zu accepted", i);
        bytes[i] ^= 0x10;
    }
    for (size_t cut = 0; cut < len; cut += 9) {
        cr_assert_neq(hush_model_deserialize(bytes, cut, &back, NULL), 0);
    }
    hush_free(bytes);
    /* update vectors */
    float v[3] = {1.5f, -2.25f, 0}, out[3];
    char *s = hush_vec_to_base64(v, 3);
    cr_assert_eq(hush_vec_from_base64(s, strlen(s), out, 3, NULL), 0);
    cr_assert_eq(memcmp(v, out, sizeof v), 0);
    cr_assert_eq(hush_vec_from_base64(s, strlen(s), out, 2, NULL), HUSH_EINVAL);
    v[1] = INFINITY;
    char *t = hush_vec_to_base64(v, 3);
    cr_assert_eq(hush_vec_from_base64(t, strlen(t), out, 3, NULL), HUSH_ERANGE);
    hush_free(s);
    hush_free(t);
    hush_free(b64);
    hush_model_free(m);
}

Test(fedavg, without_noise_the_mean_is_exact_and_bad_updates_change_nothing)
{
    hush_fedavg *a = NULL;
    hush_fedavg_config cfg = {.dim = 3, .clip = 10};
    cr_assert_eq(hush_fedavg_new(&cfg, &a, NULL), 0);
    float u1[3] = {1, 2, 3}, u2[3] = {3, 2, -1}, mean[3];
    cr_assert_eq(hush_fedavg_add(a, u1, true, NULL), 0);
    float nan[3] = {NAN, 0, 0}, far[3] = {10, 10, 0};
    hush_err err = {0};
    cr_assert_eq(hush_fedavg_add(a, nan, true, &err), HUSH_ERANGE);
    hush_err_clear(&err);
    cr_assert_eq(hush_fedavg_add(a, far, true, &err), HUSH_ERANGE);
    cr_assert(strstr(err.msg, "exceeds the clip") != NULL, "%s", err.msg);
    cr_assert_eq(hush_fedavg_add(a, u2, false, NULL), 0);
    cr_assert_eq(hush_fedavg_count(a), 2);
    hush_rng *rng = seeded(1);
    double share = 0;
    cr_assert_eq(hush_fedavg_finish(a, rng, mean, &share, NULL), 0);
    cr_assert(mean[0] == 2 && mean[1] == 2 && mean[2] == 1, "%g %g %g", mean[0], mean[1],
              mean[2]);
    cr_assert_float_eq(share, 0.5, 1e-12);
    cr_assert_eq(hush_fedavg_count(a), 0, "finishing resets");
    hush_fedavg_free(a);
    hush_rng_free(rng);
}

/*
 * With noise multiplier z, clip S and m expected clients, each coordinate
 * of the mean is (sum + noise) / m with noise of variance (z S)^2: the
 * estimator's bias is only the lattice truncation (at most gamma = zS/1024
 * per update and coordinate, toward zero), its variance (zS/m)^2.
 */
Test(fedavg, dp_noise_has_the_promised_variance_and_no_bias)
{
    enum { DIM = 2000, M = 50 };
    const double S = 1.0, z = 1.3;
    hush_fedavg *a = NULL;
    hush_fedavg_config cfg = {
        .dim = DIM, .clip = S, .noise_multiplier = z, .expected_clients = M};
    cr_assert_eq(hush_fedavg_new(&cfg, &a, NULL), 0);
    static float u[DIM], mean[DIM];
    for (size_t i = 0; i < DIM; i++) {
        u[i] = (float)(S / sqrt(DIM) * (i % 2 ? 1 : -1));
    }
    for (int c = 0; c < M; c++) {
        cr_assert_eq(hush_fedavg_add(a, u, true, NULL), 0);
    }
    hush_rng *rng = seeded(77);
    cr_assert_eq(hush_fedavg_finish(a, rng, mean, NULL, NULL), 0);
    /* residuals: mean - true mean (= u) */
    double s1 = 0, s2 = 0;
    for (size_t i = 0; i < DIM; i++) {
        double r = mean[i] - u[i];
        s1 += r;
        s2 += r * r;
    }
    double sd = z * S / M, var = s2 / DIM - (s1 / DIM) * (s1 / DIM);
    /* sample variance of DIM normals: relative SE sqrt(2/DIM); 5 SE */
    cr_assert(fabs(var / (sd * sd) - 1) < 5 * sqrt(2.0 / DIM), "variance %g, want %g",
              var, sd * sd);
    /* mean residual: truncation bias (< gamma per coordinate) + SE sd/sqrt(DIM) */
    double gamma = z * S / 1024;
    cr_assert(fabs(s1 / DIM) < gamma + 5 * sd / sqrt(DIM), "bias %g", s1 / DIM);
    hush_fedavg_free(a);
    hush_rng_free(rng);
}

/*
 * Adaptive clipping moves C toward the target quantile of the update norms:
 * with norms from a fixed distribution (log-normal, median 2), C must
 * settle near that distribution's gamma-quantile.  The geometric update's
 * fixed point is where the expected unclipped share equals gamma; its
 * fluctuation with m = 100 clients, lr 0.2 and bit noise 5 is a few percent
 * of C, and averaging the last 100 rounds cuts it further.
 */
Test(fedavg, adaptive_clipping_converges_to_the_target_quantile)
{
    double targets[] = {0.5, 0.8};
    hush_rng *rng = seeded(31);
    for (int t = 0; t < 2; t++) {
        double gamma = targets[t], C = 0.1, avg = 0;
        const int M = 100, R = 400;
        for (int r = 0; r < R; r++) {
            hush_fedavg *a = NULL;
            hush_fedavg_config cfg = {
                .dim = 1, .clip = 1e9, .expected_clients = M, .bit_noise = 5};
            cr_assert_eq(hush_fedavg_new(&cfg, &a, NULL), 0);
            for (int c = 0; c < M; c++) {
                double u1 = hush_rng_unit(rng) + 1e-12, u2 = hush_rng_unit(rng);
                double norm = 2 * exp(0.5 * sqrt(-2 * log(u1)) * cos(2 * M_PI * u2));
                float zero = 0;
                cr_assert_eq(hush_fedavg_add(a, &zero, norm <= C, NULL), 0);
            }
            float mean;
            double share = 0;
            cr_assert_eq(hush_fedavg_finish(a, rng, &mean, &share, NULL), 0);
            C = hush_adaptive_clip_next(C, share, gamma, 0.2);
            if (r >= R - 100) {
                avg += C / 100;
            }
            hush_fedavg_free(a);
        }
        /* the gamma-quantile of 2 exp(0.5 N(0,1)) */
        double want = 2 * exp(0.5 * hush_normal_quantile(gamma));
        cr_assert(fabs(avg / want - 1) < 0.05, "gamma %g: C settled at %g, quantile %g",
                  gamma, avg, want);
    }
    double zu = 0;
    cr_assert_eq(hush_adaptive_noise_split(1.0, 5.0, &zu, NULL), 0);
    cr_assert_float_eq(zu, 1 / sqrt(1 - 1 / 100.0), 1e-12);
    cr_assert_eq(hush_adaptive_noise_split(1.0, 0.4, &zu, NULL), HUSH_ERANGE);
    hush_rng_free(rng);
}

Test(fedavg, server_optimizers)
{
    hush_server_opt *avg = NULL, *adam = NULL;
    cr_assert_eq(hush_server_opt_new(HUSH_SERVER_FEDAVG, 2, 0.5, &avg, NULL), 0);
    cr_assert_eq(hush_server_opt_new(HUSH_SERVER_FEDADAM, 2, 0.01, &adam, NULL), 0);
    float w[2] = {1, 1}, d[2] = {2, -4};
    hush_server_opt_step(avg, w, d);
    cr_assert(w[0] == 2 && w[1] == -1, "FedAvg: w += lr d");
    float v[2] = {0, 0};
    for (int i = 0; i < 10; i++) {
        hush_server_opt_step(adam, v, d);
    }
    cr_assert(v[0] > 0 && v[1] < 0, "FedAdam moves along the updates' signs");
    const float *st = NULL;
    size_t n = hush_server_opt_state(adam, &st);
    cr_assert_eq(n, 4);
    cr_assert_eq(hush_server_opt_restore(adam, st, n, NULL), 0);
    cr_assert_eq(hush_server_opt_restore(adam, st, 3, NULL), HUSH_EMISMATCH);
    hush_server_opt_free(avg);
    hush_server_opt_free(adam);
}

Test(learning, local_dp)
{
    hush_rng *rng = seeded(5);
    float v[1000];
    for (int i = 0; i < 1000; i++) {
        v[i] = 0.01f;
    }
    hush_local_dp_noise(v, 1000, 0.1, 2.0, rng);
    double sd = hush_l2_norm(v, 1000) / sqrt(1000);
    cr_assert(fabs(sd / 0.2 - 1) < 0.15, "the noise's scale is z clip: %g", sd);
    /* more noise, less epsilon */
    cr_assert_lt(hush_local_dp_epsilon(8, 1e-5), hush_local_dp_epsilon(2, 1e-5));
    hush_rng_free(rng);
}

/*
 * Ditto's proximal pull at lr mu > 2: the explicit step overshoots prox and
 * diverges (lambda 1 at lr 3 gave a model of NaN); the implicit step is a
 * contraction toward prox for any lr mu, so the model stays finite and
 * within reach of prox.
 */
Test(learn_model, proximal_step_is_stable_for_any_lr_times_mu)
{
    enum { N = 32, D = 8 };
    hush_model_spec spec = {.kind = HUSH_MODEL_LOGISTIC, .inputs = D, .classes = 2};
    hush_model *m = NULL, *anchor = NULL;
    cr_assert_eq(hush_model_new(&spec, 3, &m, NULL), 0);
    cr_assert_eq(hush_model_new(&spec, 4, &anchor, NULL), 0);
    hush_rng *rng = seeded(12);
    float x[N * D];
    uint32_t y[N];
    dataset(rng, N, D, 2, x, y, 0.5);
    const float mus[] = {1.0f, 10.0f, 1000.0f};
    for (int t = 0; t < 3; t++) {
        hush_train_options o = {.epochs = 20,
                                .batch = 8,
                                .lr = 3.0f,
                                .prox = hush_model_cparams(anchor),
                                .prox_mu = mus[t]};
        cr_assert_eq(hush_model_train(m, x, y, N, &o, rng, NULL, NULL), 0);
        double dist = 0;
        for (size_t k = 0; k < hush_model_size(m); k++) {
            float p = hush_model_cparams(m)[k];
            cr_assert(isfinite(p), "mu %g: parameter %zu is %g", mus[t], k, p);
            double d = p - hush_model_cparams(anchor)[k];
            dist += d * d;
        }
        /* the fixed point of p = (p - lr g + lr mu a)/(1 + lr mu) is
         * |p - a| = |g| / mu, and |g| of the cross-entropy is bounded by
         * the input norm (~ sqrt(D) here): allow ample room */
        cr_assert(sqrt(dist) < 10 * sqrt(D) / mus[t] + 10, "mu %g: |p - prox| = %g",
                  mus[t], sqrt(dist));
    }
    hush_train_options bad = {
        .lr = 1.0f, .prox = hush_model_cparams(anchor), .prox_mu = -1.0f};
    cr_assert_eq(hush_model_train(m, x, y, N, &bad, rng, NULL, NULL), HUSH_ERANGE);
    hush_model_free(m);
    hush_model_free(anchor);
    hush_rng_free(rng);
}

/* The DP sum of `n` updates with and without them under one noise seed:
 * the difference is the lattice-rounded sum exactly. */
static void rounded_sum(const hush_fedavg_config *cfg, const float *u, size_t n,
                        size_t dim, double *out)
{
    float *with = malloc(dim * sizeof *with), *without = malloc(dim * sizeof *without);
    hush_fedavg *a = NULL;
    cr_assert_eq(hush_fedavg_new(cfg, &a, NULL), 0);
    for (size_t c = 0; c < n; c++) {
        cr_assert_eq(hush_fedavg_add(a, u + c * dim, true, NULL), 0);
    }
    hush_rng *r1 = seeded(5), *r2 = seeded(5);
    cr_assert_eq(hush_fedavg_finish(a, r1, with, NULL, NULL), 0);
    cr_assert_eq(hush_fedavg_finish(a, r2, without, NULL, NULL), 0);
    for (size_t i = 0; i < dim; i++) {
        out[i] = ((double)with[i] - without[i]) * cfg->expected_clients;
    }
    hush_rng_free(r1);
    hush_rng_free(r2);
    hush_fedavg_free(a);
    free(with);
    free(without);
}

/*
 * The central-noise lattice keeps the sum: for updates the size of an
 * MLP-1024's (263,170 parameters), agreeing or independent, the rounding
 * error of the sum is below 1% of its norm and the direction is kept.  (A
 * lattice of step zS/1024 zeroed 92% of the coordinates and kept 88-96% of
 * the direction.)  The float32 mean is compared in double, so the bound
 * also covers the final division.
 */
Test(fedavg, lattice_rounding_keeps_the_sum_within_one_percent)
{
    enum { DIM = 263170, N = 8 };
    const double S = 1.0;
    float *u = malloc((size_t)N * DIM * sizeof *u);
    double *got = malloc(DIM * sizeof *got), *want = malloc(DIM * sizeof *want);
    hush_rng *rng = seeded(41);
    const double zs[] = {0.5, 1.0, 4.0};
    for (int shared = 0; shared < 2; shared++) {
        for (size_t c = 0; c < N; c++) {
            double n2 = 0;
            for (size_t i = 0; i < DIM; i++) {
                double u1 = hush_rng_unit(rng) + 1e-12, u2 = hush_rng_unit(rng);
                double g = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
                u[c * DIM + i] = shared && c > 0 ? u[i] : (float)g;
                n2 += (double)u[c * DIM + i] * u[c * DIM + i];
            }
            for (size_t i = 0; i < DIM; i++) {
                u[c * DIM + i] = (float)(u[c * DIM + i] * (S * 0.999 / sqrt(n2)));
            }
        }
        for (size_t i = 0; i < DIM; i++) {
            want[i] = 0;
            for (size_t c = 0; c < N; c++) {
                want[i] += u[c * DIM + i];
            }
        }
        for (int t = 0; t < 3; t++) {
            hush_fedavg_config cfg = {
                .dim = DIM, .clip = S, .noise_multiplier = zs[t], .expected_clients = N};
            rounded_sum(&cfg, u, N, DIM, got);
            double e2 = 0, w2 = 0, g2 = 0, dot = 0;
            size_t zeroed = 0;
            for (size_t i = 0; i < DIM; i++) {
                e2 += (got[i] - want[i]) * (got[i] - want[i]);
                w2 += want[i] * want[i];
                g2 += got[i] * got[i];
                dot += got[i] * want[i];
                zeroed += got[i] == 0 && want[i] != 0;
            }
            double rel = sqrt(e2 / w2), cosine = dot / sqrt(w2 * g2);
            cr_assert(rel < 0.01,
                      "%s updates, z %g: rounding error %.4f of the sum (%zu "
                      "of %d coordinates zeroed)",
                      shared ? "agreeing" : "independent", zs[t], rel, zeroed, DIM);
            cr_assert(cosine > 0.9999, "z %g: cosine %g", zs[t], cosine);
            cr_assert(hush_fedavg_rounding_bound(zs[t], DIM) < 0.01);
        }
    }
    hush_rng_free(rng);
    free(u);
    free(got);
    free(want);
}

/*
 * The released unclipped count has the sensitivity the noise split
 * assumes: one more unclipped client moves the share by 1/(2m) (its bit
 * counts as b - 1/2), and the share's noise has std sigma_b / m, so the
 * noise is 2 sigma_b times the sensitivity.  Measured: the shift under one
 * noise seed (exact), and the std over 4,000 seeds (relative SE of a
 * sample std 1/sqrt(2 x 4000) = 1.1%; 5 SE).  (Summing raw bits moved the
 * share by 1/m under noise ceil(sigma_b)/m: ratio sigma_b, half of it.)
 */
Test(fedavg, unclipped_count_has_the_sensitivity_the_split_assumes)
{
    enum { M = 40, SEEDS = 4000 };
    const double sb = 3.3;
    hush_fedavg_config cfg = {
        .dim = 1, .clip = 1, .expected_clients = M, .bit_noise = sb};
    float zero = 0, mean;
    double shift = 0, s1 = 0, s2 = 0;
    for (int s = 0; s < SEEDS; s++) {
        double share[2];
        for (int extra = 0; extra < 2; extra++) {
            hush_fedavg *a = NULL;
            if (hush_fedavg_new(&cfg, &a, NULL) != 0) {
                cr_assert_fail("new");
            }
            for (int c = 0; c < 30 + extra; c++) {
                if (hush_fedavg_add(a, &zero, c % 3 != 0 || c == 30, NULL) != 0) {
                    cr_assert_fail("add");
                }
            }
            hush_rng *rng = NULL;
            if (hush_rng_new_seeded_u64(1000 + (uint64_t)s, &rng) != 0 ||
                hush_fedavg_finish(a, rng, &mean, &share[extra], NULL) != 0) {
                cr_assert_fail("finish");
            }
            hush_rng_free(rng);
            hush_fedavg_free(a);
        }
        shift = share[1] - share[0];
        s1 += share[0];
        s2 += share[0] * share[0];
    }
    cr_assert_float_eq(shift, 1.0 / (2 * M), 1e-12, "one client moved the share by %g",
                       shift);
    double sd = sqrt(s2 / SEEDS - (s1 / SEEDS) * (s1 / SEEDS));
    double want = ceil(2 * sb) / (2.0 * M); /* the integer noise actually drawn */
    cr_assert(fabs(sd / want - 1) < 5 / sqrt(2.0 * SEEDS), "noise std %g, want %g", sd,
              want);
    cr_assert(sd / shift >= 2 * sb * (1 - 5 / sqrt(2.0 * SEEDS)),
              "noise / sensitivity %g < 2 sigma_b = %g", sd / shift, 2 * sb);
    /* and the expected share is the true one: 20 of 30 unclipped, m = 40 */
    double expect = (20 - 10) / (2.0 * M) + 0.5;
    cr_assert(fabs(s1 / SEEDS - expect) < 5 * want / sqrt(SEEDS),
              "mean share %g, want %g", s1 / SEEDS, expect);
}
