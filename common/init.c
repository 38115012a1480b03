/*
 * init.c - one-time global initialisation.
 *
 * libsodium must be initialised before its random generator or any primitive
 * is used; sodium_init() is itself idempotent and thread-safe, so this is too.
 */
#include <sodium.h>

#include "hush_common.h"

int hush_global_init(void)
{
    return sodium_init() < 0 ? HUSH_EIO : 0;
}
