/*
 * hush_json.h - parsing JSON with jansson so that running out of memory is
 * told apart from bad input (internal to hush: not exported).
 *
 * jansson reports an allocation failure inside json_loadb as a syntax
 * error (or an unknown one), so a caller cannot tell "the device sent
 * garbage" (HUSH_EINVAL, a 400) from "we ran out of memory" (HUSH_ENOMEM,
 * a 500).  hush_global_init and hush_set_allocator route jansson through
 * a hook that notes, per thread, that an allocation failed; this parser
 * clears the note first and reads it after a failure.
 */
#ifndef HUSH_JSON_H
#define HUSH_JSON_H

#include <jansson.h>

#include "hush_common.h"

/* json_loadb(buf, len, flags, jerr); on failure *code (if not NULL) is
 * HUSH_ENOMEM when an allocation failed during the parse, else
 * HUSH_EINVAL (jerr says why).  A document jansson returned although an
 * allocation failed on the way is dropped (NULL, HUSH_ENOMEM). */
json_t *hush__json_loadb(const char *buf, size_t len, size_t flags, json_error_t *jerr,
                         int *code);
/* json_dumps(json, flags), but safe under allocation failure: jansson
 * 2.14 ignores a failed write of an object key's closing quote, so a
 * json_dumps that runs out of memory at that moment returns corrupt JSON
 * ("version:1) instead of NULL.  This writes through a hush__buf, whose
 * failure sticks, so any failed write makes the result NULL.  Free the
 * text with hush_free. */
char *hush__json_dumps(const json_t *json, size_t flags, size_t *len);
/* The allocator functions handed to json_set_alloc_funcs. */
void *hush__json_malloc(size_t size);

#endif
