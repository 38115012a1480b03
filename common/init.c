/*
 * init.c - one-time global initialisation.
 *
 * libsodium must be initialised before its random generator or any primitive
 * is used; sodium_init() is itself idempotent and thread-safe, so this is too.
 */
#include <jansson.h>
#include <sodium.h>

#include "hush_common.h"
#include "hush_json.h"

int hush_global_init(void)
{
    /* jansson allocates through hush's allocator too (one allocator: what
     * jansson returns is freed with hush_free, and allocation-failure
     * tests reach its allocations) */
    json_set_alloc_funcs(hush__json_malloc, hush_free);
    return sodium_init() < 0 ? HUSH_EIO : 0;
}
