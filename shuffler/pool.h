/*
 * pool.h - the shuffler's pool: the sealed report batches it holds until a
 * randomized threshold is reached, then hands over in a uniformly random
 * order (Prochlo's shuffler: Bittau et al., SOSP 2017).
 *
 * The shuffler cannot read what it holds (each item is sealed to the
 * collector); it only counts, permutes and forwards.  The threshold is
 * n_min plus a geometric draw with mean `extra_mean`, redrawn for every
 * batch, so that the size of a forwarded batch says little about when
 * any one item arrived, and no batch is ever smaller than n_min: the
 * amplification the collector claims (privacy/shuffle.c) is computed from
 * the n it actually receives, and is never claimed below n_min.
 *
 * Not thread-safe: the shuffler's server serialises calls.
 */
#ifndef HUSH_SHUFFLER_POOL_H
#define HUSH_SHUFFLER_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "hush_common.h"
#include "hush_privacy.h"

typedef struct hush__pool hush__pool;

/* A pool forwarding batches of at least n_min (>= 2) items, at most
 * max_items held (arrivals beyond it are refused: HUSH_ETOOBIG), drawing
 * from rng (borrowed; tests pass a seeded one). */
int hush__pool_new(size_t n_min, double extra_mean, size_t max_items, hush_rng *rng,
                   hush__pool **out, hush_err *err);
void hush__pool_free(hush__pool *p);

/* Adds one item (copied).  *ready says whether a batch can be taken. */
int hush__pool_add(hush__pool *p, const void *item, size_t len, bool *ready,
                   hush_err *err);

/* How many items are held, and the current threshold. */
size_t hush__pool_held(const hush__pool *p);
size_t hush__pool_threshold(const hush__pool *p);

/* Takes every held item, uniformly permuted (Fisher-Yates with the pool's
 * rng): *items and *lens new (free each item and both arrays with
 * hush_free), *n how many; the threshold is redrawn.  HUSH_ESTATE when
 * fewer than the threshold are held (nothing is taken). */
int hush__pool_take(hush__pool *p, void ***items, size_t **lens, size_t *n,
                    hush_err *err);

#endif
