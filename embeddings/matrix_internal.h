/*
 * matrix_internal.h - the layout behind hush_matrix, shared by matrix.c and
 * nearest.c.
 *
 * int8 rows are stored `stride` bytes apart (cols rounded up to 64, the pad
 * zero) so every row starts on a 64-byte boundary of the buffer; `norm`
 * holds each row's L2 norm in stored units (int8 units for int8 rows), so a
 * cosine is dot / (norm_q * norm_c) and the int8 scales cancel.
 */
#ifndef HUSH_MATRIX_INTERNAL_H
#define HUSH_MATRIX_INTERNAL_H

#include "hush_embed.h"

struct hush_matrix {
    hush_matrix_type type;
    uint32_t rows, cols;
    uint32_t stride; /* int8: bytes between rows */
    float *f32;
    int8_t *i8; /* 64-byte aligned, inside i8_raw */
    void *i8_raw;
    float *scale;
    float *norm;
};

void hush__matrix_update_norm(hush_matrix *m, uint32_t r);

/* hush_calloc(n + 63) and the first 64-byte aligned address in it. */
static inline void *hush__align64(void *raw)
{
    return (void *)(((uintptr_t)raw + 63u) & ~(uintptr_t)63u);
}

#endif
