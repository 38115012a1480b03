/*
 * metrics.h - how hush-sim judges a synthetic set against the private data,
 * as pure functions (sim/metrics.c, tested in tests/sim/).
 *
 * The loop optimizes votes in the campaign's embedding space, so it must be
 * judged in a space it does not optimize: a TF-IDF space reduced to k
 * dimensions by a truncated SVD (latent semantic analysis), fitted on texts
 * that are neither the private emails nor the ones the set is compared to.
 * In that space:
 *   Frechet distance   |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^1/2) between
 *                      Gaussian fits (the FID formula);
 *   precision          share of synthetic points inside some private point's
 *                      k-NN ball (Kynkaanniemi et al. 2019);
 *   ncov               share of private points whose own k-NN ball holds a
 *                      synthetic point ("coverage", Naeem et al. 2020);
 *   ovl                sum over k-means clusters of the private points of
 *                      min(synthetic share, private share);
 *   auc                a classifier two-sample test: cross-validated AUC of
 *                      logistic regression telling the two sets apart (0.5 =
 *                      indistinguishable);
 *   pairwise, twins    mean pairwise cosine inside a set, and the share of
 *                      its points with a near-twin (cosine above a bound).
 *
 * Matrices are row-major doubles, n rows of d.  Functions that allocate
 * return 0 or HUSH_ENOMEM; the rest cannot fail.  Randomness (SVD sketch,
 * k-means seeding, folds) comes from a seeded hush_rng: same seed, same
 * numbers.  Nothing here is thread-safe across shared outputs.
 */
#ifndef HUSH_SIM_METRICS_H
#define HUSH_SIM_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hush_privacy.h"

/* ---- the evaluation space: TF-IDF + truncated SVD ---- */

typedef struct sim_space sim_space;

/* Fits the space on n texts: lower-cased alphanumeric words of 2 to 30
 * characters, the `max_vocab` words of highest document frequency (seen in
 * at least two texts), sublinear tf times smoothed idf, rows L2-normalized,
 * then the top `dims` right singular vectors (randomized SVD with two power
 * iterations, Halko et al. 2011).  *out is new (sim_space_free). */
int sim_space_fit(char *const *texts, size_t n, size_t max_vocab, uint32_t dims,
                  uint64_t seed, sim_space **out);
void sim_space_free(sim_space *s);
uint32_t sim_space_dims(const sim_space *s);
/* The text's coordinates (dims doubles), scaled to unit length as latent
 * semantic analysis does; a text with no known word maps to the origin. */
void sim_space_embed(const sim_space *s, const char *text, double *out);

/* ---- moments and the Frechet distance ---- */

/* The mean (d) and the covariance (d x d, divided by n - 1) of n rows. */
int sim_moments(const double *x, size_t n, uint32_t d, double *mean, double *cov);
/* The Frechet distance between N(m1, c1) and N(m2, c2). */
int sim_frechet_moments(const double *m1, const double *c1, const double *m2,
                        const double *c2, uint32_t d, double *out);
/* The Frechet distance between Gaussian fits of two sets of rows; _to: of
 * a's fit to N(m2, c2) (moments computed once for a fixed reference set). */
int sim_frechet(const double *a, size_t na, const double *b, size_t nb, uint32_t d,
                double *out);
int sim_frechet_to(const double *a, size_t na, uint32_t d, const double *m2,
                   const double *c2, double *out);

/* Eigen-decomposition of a symmetric d x d matrix (cyclic Jacobi): the
 * eigenvalues into `values`, the eigenvectors as the columns of `vectors`
 * (row-major, may be NULL).  `a` is destroyed. */
int sim_symmetric_eigen(double *a, uint32_t d, double *values, double *vectors);

/* ---- neighbourhoods (Euclidean, k nearest, excluding the point itself) ---- */

/* The squared distance from each row of P to its k-th nearest other row
 * (new array of np, free): computed once for a fixed reference set. */
int sim_knn_radii(const double *p, size_t np, uint32_t d, unsigned k, double **out);
/* precision: share of S's rows within the k-NN radius of some row of P. */
double sim_precision(const double *p, const double *radii, size_t np, const double *s,
                     size_t ns, uint32_t d);
/* ncov: share of P's rows whose own k-NN radius (among P) holds a row of S. */
double sim_ncov(const double *p, const double *radii, size_t np, const double *s,
                size_t ns, uint32_t d);

/* ---- clusters ---- */

/* k-means (k-means++ seeding, Lloyd iterations until no point moves or 100
 * rounds) of n rows into `centroids` (k x d). */
int sim_kmeans(const double *x, size_t n, uint32_t d, uint32_t k, hush_rng *rng,
               double *centroids);
/* The index of the centroid nearest to row x. */
uint32_t sim_nearest_centroid(const double *x, const double *centroids, uint32_t k,
                              uint32_t d);
/* sum over clusters of min(share of S's rows, share of P's rows). */
double sim_ovl(const double *p, size_t np, const double *s, size_t ns, uint32_t d,
               const double *centroids, uint32_t k);

/* ---- the classifier two-sample test ---- */

/* AUC of scores against labels (true = positive): the Mann-Whitney
 * statistic, ties counting one half.  0.5 if either class is empty. */
int sim_auc(const double *scores, const bool *positive, size_t n, double *out);
/* Cross-validated (`folds`) AUC of an L2-regularized logistic regression
 * telling the rows of a (positive) from those of b, on the standardized
 * features; both sets are cut to the smaller one's size first. */
int sim_c2st_auc(const double *a, size_t na, const double *b, size_t nb, uint32_t d,
                 unsigned folds, hush_rng *rng, double *out);

/* ---- inside one set ---- */

/* Mean cosine over all pairs of distinct rows (rows at the origin count 0),
 * and the share of rows whose most similar other row has cosine > twin. */
int sim_pairwise(const double *x, size_t n, uint32_t d, double twin, double *mean_cos,
                 double *twins);

/* Whitespace-separated words in a text. */
size_t sim_words(const char *text);

#endif
