/*
 * json_alloc.c - jansson allocates through hush's allocator, and a failed
 * allocation is noted per thread (hush_json.h).
 */
#include "hush_buf.h"
#include "hush_json.h"

static _Thread_local bool json_oom;

void *hush__json_malloc(size_t size)
{
    void *p = hush_malloc(size);
    if (p == NULL) {
        json_oom = true;
    }
    return p;
}

json_t *hush__json_loadb(const char *buf, size_t len, size_t flags, json_error_t *jerr,
                         int *code)
{
    json_oom = false;
    json_t *doc = json_loadb(buf, len, flags, jerr);
    if (doc != NULL && json_oom) {
        /* jansson went on past a failed allocation (a hash table that
         * could not grow, say): what it returns may not be the whole
         * document, so it is not used */
        json_decref(doc);
        doc = NULL;
    }
    if (doc == NULL && code != NULL) {
        *code = json_oom ? HUSH_ENOMEM : HUSH_EINVAL;
    }
    return doc;
}

static int dump_to_buf(const char *buffer, size_t size, void *data)
{
    return hush__buf_add(data, buffer, size) == 0 ? 0 : -1;
}

char *hush__json_dumps(const json_t *json, size_t flags, size_t *len)
{
    hush__buf b;
    hush__buf_init(&b, SIZE_MAX - 1);
    if (json_dump_callback(json, dump_to_buf, &b, flags) != 0) {
        hush__buf_free(&b);
        return NULL;
    }
    return hush__buf_take(&b, len); /* NULL if any write failed */
}
