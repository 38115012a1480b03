/*
 * assets.h - files hushd serves from its own memory: the dashboard (ui/)
 * and the OpenAPI description (schemas/openapi.yaml), built into the
 * binary by scripts/embed-assets so that a collector needs no files beside
 * it and no network to show its pages.
 */
#ifndef HUSH_COLLECTOR_ASSETS_H
#define HUSH_COLLECTOR_ASSETS_H

#include <stddef.h>

typedef struct hush__asset {
    const char *name; /* the path served, without the leading '/' */
    const char *type; /* Content-Type */
    const char *etag; /* strong, quoted: from the bytes' SHA-256 */
    const unsigned char *data;
    size_t len;
    const unsigned char *gz; /* gzip -9 form, or NULL when not smaller */
    size_t gz_len;
} hush__asset;

extern const hush__asset hush__assets[];
extern const size_t hush__n_assets;

/* The asset served as `name`, or NULL. */
const hush__asset *hush__asset_find(const char *name);

#endif
