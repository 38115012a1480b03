/*
 * pool.c - the shuffler's pool (pool.h).
 */
#include <math.h>
#include <string.h>

#include "pool.h"

struct hush__pool {
    size_t n_min, max_items, threshold;
    double extra_mean;
    hush_rng *rng;
    void **items;
    size_t *lens;
    size_t n;
};

/* n_min + G, G geometric on {0, 1, ...} with mean extra_mean. */
static size_t draw_threshold(const hush__pool *p)
{
    if (p->extra_mean <= 0.0) {
        return p->n_min;
    }
    double q = p->extra_mean / (1.0 + p->extra_mean); /* P[G >= k+1 | G >= k] */
    double u = hush_rng_unit(p->rng);
    double g = floor(log1p(-u) / log(q)); /* inversion; u in [0, 1) */
    if (!(g >= 0.0) || g > (double)(p->max_items - p->n_min)) {
        g = (double)(p->max_items - p->n_min);
    }
    return p->n_min + (size_t)g;
}

int hush__pool_new(size_t n_min, double extra_mean, size_t max_items, hush_rng *rng,
                   hush__pool **out, hush_err *err)
{
    *out = NULL;
    if (n_min < 2 || max_items < n_min || !(extra_mean >= 0.0) || rng == NULL) {
        return hush_err_set(
            err, HUSH_EINVAL,
            "a pool needs n_min >= 2, max_items >= n_min and extra_mean >= 0");
    }
    hush__pool *p = hush_calloc(1, sizeof *p);
    if (p == NULL || (p->items = hush_calloc(max_items, sizeof *p->items)) == NULL ||
        (p->lens = hush_calloc(max_items, sizeof *p->lens)) == NULL) {
        if (p != NULL) {
            hush_free(p->items);
        }
        hush_free(p);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory for a pool of %zu",
                            max_items);
    }
    p->n_min = n_min;
    p->max_items = max_items;
    p->extra_mean = extra_mean;
    p->rng = rng;
    p->threshold = draw_threshold(p);
    *out = p;
    return 0;
}

void hush__pool_free(hush__pool *p)
{
    if (p == NULL) {
        return;
    }
    for (size_t i = 0; i < p->n; i++) {
        hush_free(p->items[i]);
    }
    hush_free(p->items);
    hush_free(p->lens);
    hush_free(p);
}

int hush__pool_add(hush__pool *p, const void *item, size_t len, bool *ready,
                   hush_err *err)
{
    *ready = p->n >= p->threshold;
    if (p->n == p->max_items) {
        return hush_err_set(err, HUSH_ETOOBIG, "the pool holds its %zu items",
                            p->max_items);
    }
    void *copy = hush_malloc(len > 0 ? len : 1);
    if (copy == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory holding an item");
    }
    memcpy(copy, item, len);
    p->items[p->n] = copy;
    p->lens[p->n] = len;
    p->n++;
    *ready = p->n >= p->threshold;
    return 0;
}

size_t hush__pool_held(const hush__pool *p)
{
    return p->n;
}

size_t hush__pool_threshold(const hush__pool *p)
{
    return p->threshold;
}

int hush__pool_take(hush__pool *p, void ***items, size_t **lens, size_t *n, hush_err *err)
{
    if (p->n < p->threshold) {
        return hush_err_set(err, HUSH_ESTATE, "%zu items held, %zu needed", p->n,
                            p->threshold);
    }
    void **out = hush_malloc(p->n * sizeof *out);
    size_t *out_lens = hush_malloc(p->n * sizeof *out_lens);
    if (out == NULL || out_lens == NULL) {
        hush_free(out);
        hush_free(out_lens);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    /* Fisher-Yates, every permutation equally likely: position i takes a
     * uniform pick among the items not placed yet */
    for (size_t i = p->n; i > 1; i--) {
        size_t j = (size_t)hush_rng_uniform(p->rng, i);
        void *t = p->items[i - 1];
        size_t tl = p->lens[i - 1];
        p->items[i - 1] = p->items[j];
        p->lens[i - 1] = p->lens[j];
        p->items[j] = t;
        p->lens[j] = tl;
    }
    memcpy(out, p->items, p->n * sizeof *out);
    memcpy(out_lens, p->lens, p->n * sizeof *out_lens);
    *items = out;
    *lens = out_lens;
    *n = p->n;
    p->n = 0;
    p->threshold = draw_threshold(p);
    return 0;
}
