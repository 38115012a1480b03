/*
 * test_metrics.c - hush-sim's measures of a synthetic set, against values
 * computed by hand.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static hush_rng *seeded(uint64_t s)
{
    hush_rng *r = NULL;
    cr_assert_eq(hush_rng_new_seeded_u64(s, &r), 0);
    return r;
}

Test(sim_metrics, symmetric_eigen)
{
    double a[4] = {2, 1, 1, 2}, val[2], vec[4];
    cr_assert_eq(sim_symmetric_eigen(a, 2, val, vec), 0);
    cr_assert_float_eq(val[0], 3, 1e-12);
    cr_assert_float_eq(val[1], 1, 1e-12);
    /* the first eigenvector is (1, 1)/sqrt 2, up to sign */
    cr_assert_float_eq(fabs(vec[0]), M_SQRT1_2, 1e-12);
    cr_assert_float_eq(vec[0] * vec[2], 0.5, 1e-12);
}

Test(sim_metrics, frechet_of_known_gaussians)
{
    /* 1-D: (m1 - m2)^2 + s1^2 + s2^2 - 2 s1 s2 = 4 + 4 + 9 - 12 = 5 */
    double m1 = 1, c1 = 4, m2 = 3, c2 = 9, fd = 0;
    cr_assert_eq(sim_frechet_moments(&m1, &c1, &m2, &c2, 1, &fd), 0);
    cr_assert_float_eq(fd, 5, 1e-12);
    /* 2-D, covariances that do not commute: C1 C2 = [[2,4],[1,8]] has trace
     * 10 and determinant 12, so tr (C1 C2)^1/2 = sqrt(10 + 2 sqrt 12) */
    double mu[2] = {0, 0}, C1[4] = {2, 1, 1, 2}, C2[4] = {1, 0, 0, 4};
    cr_assert_eq(sim_frechet_moments(mu, C1, mu, C2, 2, &fd), 0);
    cr_assert_float_eq(fd, 9 - 2 * sqrt(10 + 2 * sqrt(12)), 1e-10);
    /* a distribution against itself */
    cr_assert_eq(sim_frechet_moments(mu, C1, mu, C1, 2, &fd), 0);
    cr_assert_float_eq(fd, 0, 1e-10);
}

Test(sim_metrics, frechet_of_sample_sets)
{
    /* four points, mean 0, covariance diag(2/3, 2/3); the same set moved
     * by (3, 0): distance 9 exactly */
    double a[8] = {-1, 0, 1, 0, 0, -1, 0, 1}, b[8], fd = 0;
    for (int i = 0; i < 4; i++) {
        b[2 * i] = a[2 * i] + 3;
        b[2 * i + 1] = a[2 * i + 1];
    }
    cr_assert_eq(sim_frechet(a, 4, b, 4, 2, &fd), 0);
    cr_assert_float_eq(fd, 9, 1e-10);
    double mean[2], cov[4];
    cr_assert_eq(sim_moments(a, 4, 2, mean, cov), 0);
    cr_assert_float_eq(cov[0], 2.0 / 3, 1e-12);
    cr_assert_float_eq(cov[1], 0, 1e-12);
    /* against precomputed moments: the same distance */
    cr_assert_eq(sim_frechet_to(b, 4, 2, mean, cov, &fd), 0);
    cr_assert_float_eq(fd, 9, 1e-10);
}

Test(sim_metrics, precision_and_ncov_on_a_line)
{
    /* private points 0..9 on a line: each one's nearest other is at 1 */
    double p[10], s[2] = {0.5, 100}, *r1 = NULL, *r3 = NULL;
    for (int i = 0; i < 10; i++) {
        p[i] = i;
    }
    cr_assert_eq(sim_knn_radii(p, 10, 1, 1, &r1), 0);
    cr_assert_float_eq(r1[0], 1, 0, "squared distance to the nearest other point");
    cr_assert_float_eq(sim_precision(p, r1, 10, s, 2, 1), 0.5, 1e-12,
                       "0.5 is inside, 100 is not");
    cr_assert_float_eq(sim_ncov(p, r1, 10, s, 2, 1), 0.2, 1e-12,
                       "points 0 and 1 have 0.5 in their ball");
    /* k = 3: radius 2 for the inner points (3 for 0 and 9) */
    double s3 = 4.5;
    cr_assert_eq(sim_knn_radii(p, 10, 1, 3, &r3), 0);
    cr_assert_float_eq(r3[5], 4, 0);
    cr_assert_float_eq(r3[0], 9, 0);
    /* covered: 2 (r 2, d 2.5: no), 3, 4, 5, 6 (d <= 2), 7 (r 2, d 2.5: no) */
    cr_assert_float_eq(sim_ncov(p, r3, 10, &s3, 1, 1), 0.4, 1e-12);
    free(r1);
    free(r3);
}

Test(sim_metrics, auc_by_ranks)
{
    double sc[4] = {0.1, 0.4, 0.35, 0.8}, auc = 0;
    bool pos[4] = {false, false, true, true};
    cr_assert_eq(sim_auc(sc, pos, 4, &auc), 0);
    cr_assert_float_eq(auc, 0.75, 1e-12);
    double tie[2] = {1, 1};
    bool tp[2] = {true, false};
    cr_assert_eq(sim_auc(tie, tp, 2, &auc), 0);
    cr_assert_float_eq(auc, 0.5, 1e-12);
    bool none[2] = {false, false};
    cr_assert_eq(sim_auc(tie, none, 2, &auc), 0);
    cr_assert_float_eq(auc, 0.5, 1e-12);
}

static void gauss_rows(hush_rng *rng, double *x, size_t n, uint32_t d, double shift)
{
    for (size_t i = 0; i < n * d; i++) {
        double u1 = hush_rng_unit(rng) + 1e-300, u2 = hush_rng_unit(rng);
        x[i] = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2) + shift;
    }
}

/* Separable sets give AUC near 1; two samples of one distribution give 0.5
 * within 5 of its null standard deviations, sqrt((2m + 1) / (12 m^2)). */
Test(sim_metrics, classifier_two_sample_auc)
{
    enum { M = 400, D = 5 };
    hush_rng *rng = seeded(3);
    double *a = malloc(M * D * sizeof *a), *b = malloc(M * D * sizeof *b), auc = 0;
    gauss_rows(rng, a, M, D, 4);
    gauss_rows(rng, b, M, D, -4);
    cr_assert_eq(sim_c2st_auc(a, M, b, M, D, 5, rng, &auc), 0);
    cr_assert_gt(auc, 0.99, "separable: %g", auc);
    gauss_rows(rng, b, M, D, 4);
    cr_assert_eq(sim_c2st_auc(a, M, b, M, D, 5, rng, &auc), 0);
    double sd = sqrt((2.0 * M + 1) / (12.0 * M * M));
    cr_assert(fabs(auc - 0.5) < 5 * sd, "identical: %g", auc);
    free(a);
    free(b);
    hush_rng_free(rng);
}

Test(sim_metrics, kmeans_and_overlap)
{
    /* two tight clusters */
    double p[40];
    for (int i = 0; i < 20; i++) {
        double c = i < 10 ? 0 : 10;
        p[2 * i] = c + 0.01 * i;
        p[2 * i + 1] = c - 0.01 * i;
    }
    hush_rng *rng = seeded(5);
    double cent[4];
    cr_assert_eq(sim_kmeans(p, 20, 2, 2, rng, cent), 0);
    cr_assert_neq(sim_nearest_centroid(p, cent, 2, 2),
                  sim_nearest_centroid(p + 30, cent, 2, 2));
    cr_assert_float_eq(sim_ovl(p, 20, p, 20, 2, cent, 2), 1.0, 1e-12);
    /* a set entirely in one cluster overlaps half */
    cr_assert_float_eq(sim_ovl(p, 20, p, 10, 2, cent, 2), 0.5, 1e-12);
    hush_rng_free(rng);
}

Test(sim_metrics, pairwise_cosine_and_twins)
{
    double x[6] = {1, 0, 2, 0, 0, 1}, mean = 0, twins = 0;
    cr_assert_eq(sim_pairwise(x, 3, 2, 0.9, &mean, &twins), 0);
    cr_assert_float_eq(mean, 1.0 / 3, 1e-12);
    cr_assert_float_eq(twins, 2.0 / 3, 1e-12);
    cr_assert_eq(sim_words("  two words\n"), 2);
    cr_assert_eq(sim_words(""), 0);
}

Test(sim_metrics, tfidf_svd_space)
{
    char *docs[] = {
        "invoice payment due bank account",   "payment bank transfer invoice paid",
        "meeting agenda room notes slides",   "meeting notes agenda team calendar",
        "flight hotel airport booking trip",  "hotel flight booking passport airport",
        "bank account invoice paid transfer", "team meeting slides calendar room",
    };
    sim_space *s = NULL, *t = NULL;
    cr_assert_eq(sim_space_fit(docs, 8, 1000, 3, 7, &s), 0);
    cr_assert_eq(sim_space_fit(docs, 8, 1000, 3, 7, &t), 0);
    cr_assert_eq(sim_space_dims(s), 3);
    double a[3], b[3], c[3], u[3];
    sim_space_embed(s, "invoice bank payment", a);
    sim_space_embed(t, "invoice bank payment", b);
    for (int i = 0; i < 3; i++) {
        cr_assert_float_eq(a[i], b[i], 0, "same seed, same space");
    }
    sim_space_embed(s, "agenda meeting notes", c);
    sim_space_embed(s, "zebra quokka", u);
    double na = 0, nu = 0, dot = 0, nc = 0;
    for (int i = 0; i < 3; i++) {
        na += a[i] * a[i];
        nc += c[i] * c[i];
        nu += u[i] * u[i];
        dot += a[i] * c[i];
    }
    cr_assert_gt(na, 0.1);
    cr_assert_float_eq(nu, 0, 0, "unknown words map to the origin");
    cr_assert_lt(fabs(dot) / sqrt(na * nc), 0.5, "topics apart: cosine %g",
                 dot / sqrt(na * nc));
    sim_space_free(s);
    sim_space_free(t);
}
