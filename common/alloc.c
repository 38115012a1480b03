/*
 * alloc.c - the replaceable allocator every hush component allocates through.
 *
 * The function pointers are set once, before use (hush_set_allocator), which
 * is the only mutable global state outside hush_global_init.  Tests replace
 * them with an allocator that fails the Nth call.
 */
#include <jansson.h>
#include <stdlib.h>

#include "hush_common.h"
#include "hush_json.h"

static hush_malloc_fn alloc_malloc = malloc;
static hush_realloc_fn alloc_realloc = realloc;
static hush_free_fn alloc_free = free;

void hush_set_allocator(hush_malloc_fn m, hush_realloc_fn r, hush_free_fn f)
{
    alloc_malloc = m != NULL ? m : malloc;
    alloc_realloc = r != NULL ? r : realloc;
    alloc_free = f != NULL ? f : free;
    json_set_alloc_funcs(hush__json_malloc, hush_free);
}

void *hush_malloc(size_t size)
{
    /* malloc(0) may return NULL, which callers would read as failure. */
    return alloc_malloc(size != 0 ? size : 1);
}

void *hush_calloc(size_t n, size_t size)
{
    size_t total;
    if (!hush_size_mul(n, size, &total)) {
        return NULL;
    }
    void *p = hush_malloc(total);
    if (p != NULL) {
        memset(p, 0, total);
    }
    return p;
}

void *hush_realloc(void *ptr, size_t size)
{
    return alloc_realloc(ptr, size != 0 ? size : 1);
}

void hush_free(void *ptr)
{
    if (ptr != NULL) {
        alloc_free(ptr);
    }
}

char *hush_strdup(const char *s)
{
    size_t len = strlen(s) + 1;
    char *copy = hush_malloc(len);
    if (copy != NULL) {
        memcpy(copy, s, len);
    }
    return copy;
}
