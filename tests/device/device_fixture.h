/*
 * device_fixture.h - what the device tests share: a collector's keys, signed
 * publications (poll and synthetic), a temporary state directory, and a
 * fixed clock.
 */
#ifndef HUSH_TEST_DEVICE_FIXTURE_H
#define HUSH_TEST_DEVICE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hush_device.h"

typedef struct fx_keys {
    uint8_t sign_pk[32], sign_sk[64];
    uint8_t seal_pk[32], seal_sk[32];
} fx_keys;

typedef struct fx_pub {
    char *body; /* malloc'd */
    size_t len;
    char *signature; /* malloc'd base64 */
    char id[96];     /* the campaign's or model task's id, from the body */
} fx_pub;

/* Deterministic keys from a one-byte seed. */
void fx_keys_make(fx_keys *k, uint8_t seed);

/* Signs `body` (copied) with k. */
void fx_pub_sign(fx_pub *p, const fx_keys *k, const char *body, size_t len);
void fx_pub_free(fx_pub *p);

/*
 * A poll "emoji" with candidates a "red heart", b "fire", c "rocket":
 * `mechanism` is a JSON object such as {"name":"grr","domain":3,"epsilon":1}.
 * Budget: `per_day` reports and `eps_per_day` epsilon per device per day.
 */
void fx_poll(fx_pub *p, const fx_keys *k, const char *mechanism, int per_day,
             double eps_per_day);

/* The synthetic candidates ("mail" campaign): s0..s3. */
extern const char *const fx_synthetic_texts[4];

/* A synthetic campaign over fx_synthetic_texts with a dim-64 hashed-ngram
 * embedder, GRR (domain 5 with "none") at `epsilon`, threshold `threshold`.
 * device_view: candidate_count in place of the list, as ?view=device. */
void fx_synthetic(fx_pub *p, const fx_keys *k, double epsilon, double threshold,
                  int per_day, double eps_per_day, bool device_view);

/* A fresh directory under $TMPDIR (malloc'd path); fx_rmdir removes it. */
char *fx_tmpdir(void);
void fx_rmdir(char *path);

/* A clock reading *(int64_t *)ctx. */
int64_t fx_clock(void *ctx);

/* An agent config for `dir` pinned to k, on the clock *now, seeded with
 * `seed` (NULL: system randomness). */
hush_agent_config fx_config(const char *dir, const fx_keys *k, int64_t *now,
                            const uint8_t *seed);

/* Reads a whole file (malloc'd, NUL-terminated); NULL if it cannot. */
char *fx_read(const char *path, size_t *len);

#endif
