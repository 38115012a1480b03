/*
 * hush_common.h - what every hush component shares: error codes and the
 * error-detail record, the replaceable allocator, checked arithmetic, checked
 * number parsing, little-endian helpers and one-time global initialisation.
 *
 * Ownership: nothing here allocates on the caller's behalf except
 * hush_malloc/hush_calloc/hush_realloc, whose results are freed with
 * hush_free.  Thread safety: every function is thread-safe except
 * hush_set_allocator, which must run before any other hush call, and
 * hush_global_init, which must run once before threads are started (it is
 * idempotent and may be called again).
 */
#ifndef HUSH_COMMON_H
#define HUSH_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Symbols of the public API are marked HUSH_API; libraries are compiled with
 * -fvisibility=hidden, so nothing else leaves a shared object. */
#if defined(__GNUC__)
#define HUSH_API __attribute__((visibility("default")))
#define HUSH_WARN_UNUSED __attribute__((warn_unused_result))
#define HUSH_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define HUSH_API
#define HUSH_WARN_UNUSED
#define HUSH_PRINTF(fmt, args)
#endif

/* Error codes.  One X-macro generates the enum and hush_strerror(), so the two
 * cannot disagree.  Every code but HUSH_OK is negative. */
/* hush's version: every tool's --version and hushd's hush_build_info. */
#define HUSH_VERSION_STRING "0.1.0"

#define HUSH_ERRNO_MAP(X)                                      \
    X(OK, 0, "success")                                        \
    X(EINVAL, -1, "invalid argument")                          \
    X(ENOMEM, -2, "out of memory")                             \
    X(ERANGE, -3, "value out of range")                        \
    X(ECORRUPT, -4, "corrupt or truncated data")               \
    X(EVERSION, -5, "unsupported format version")              \
    X(EMISMATCH, -6, "parameters do not match")                \
    X(EIO, -7, "input/output error")                           \
    X(ENOTFOUND, -8, "not found")                              \
    X(EEXIST, -9, "already exists")                            \
    X(EBUDGET, -10, "privacy budget exhausted")                \
    X(ESIGNATURE, -11, "bad or missing signature")             \
    X(ESTATE, -12, "operation not allowed in this state")      \
    X(EOVERFLOW, -13, "arithmetic overflow")                   \
    X(ETOOBIG, -14, "input too large")                         \
    X(ETIMEOUT, -15, "timed out")                              \
    X(EUNSUPPORTED, -16, "not supported")                      \
    X(ESTALE, -17, "stale or replayed document")               \
    X(EUPSTREAM, -18, "an external program or service failed") \
    X(EINTERNAL, -19, "internal error")                        \
    X(EPERM, -20, "not permitted")                             \
    X(ELIMIT, -21, "rate limit reached")

typedef enum hush_errno {
#define HUSH_ERRNO_ENUM(name, value, text) HUSH_##name = (value),
    HUSH_ERRNO_MAP(HUSH_ERRNO_ENUM)
#undef HUSH_ERRNO_ENUM
} hush_errno;

/** Returns a static, human-readable description of an error code (never NULL). */
HUSH_API const char *hush_strerror(int code);

/* Optional error detail, filled by the first failing call that receives it
 * (later failures do not overwrite it, so the root cause survives).  Callers
 * initialise it with hush_err_clear() or `hush_err e = {0};`. */
#define HUSH_ERR_MSG_MAX 256
typedef struct hush_err {
    int code;                   /* 0 until an error is recorded */
    char msg[HUSH_ERR_MSG_MAX]; /* NUL-terminated; names the bad value */
} hush_err;

/** Resets `err` to "no error".  NULL is accepted. */
HUSH_API void hush_err_clear(hush_err *err);

/**
 * Records `code` and a printf-style message in `err` unless an error is
 * already recorded there; returns `code` so callers can write
 * `return hush_err_set(err, HUSH_EINVAL, "...")`.  NULL `err` is accepted.
 */
HUSH_API int hush_err_set(hush_err *err, int code, const char *fmt, ...)
    HUSH_PRINTF(3, 4);
HUSH_API int hush_err_setv(hush_err *err, int code, const char *fmt, va_list ap)
    HUSH_PRINTF(3, 0);

/* Allocation.  Every hush allocation goes through these, so that tests can
 * install an allocator that fails the Nth call and check that each failure
 * returns HUSH_ENOMEM and leaks nothing. */
typedef void *(*hush_malloc_fn)(size_t size);
typedef void *(*hush_realloc_fn)(void *ptr, size_t size);
typedef void (*hush_free_fn)(void *ptr);

/**
 * Replaces the allocator (NULL arguments restore the C library's).  Not
 * thread-safe: call it before any other hush function, or from tests.
 * jansson is pointed at the same allocator (json_set_alloc_funcs, which is
 * process-wide): what jansson returns (json_dumps) is freed with hush_free.
 * An app that uses jansson itself and installs its own hush allocator
 * should do so before it creates any JSON value.
 */
HUSH_API void hush_set_allocator(hush_malloc_fn m, hush_realloc_fn r, hush_free_fn f);

/** malloc/calloc/realloc through the installed allocator.  `hush_calloc`
 * checks `n * size` for overflow; zero sizes return a unique pointer. */
HUSH_API void *hush_malloc(size_t size);
HUSH_API void *hush_calloc(size_t n, size_t size);
HUSH_API void *hush_realloc(void *ptr, size_t size);
/** Frees memory from the functions above; NULL does nothing. */
HUSH_API void hush_free(void *ptr);
/** Returns a new copy of `s` (hush_free it), or NULL when out of memory. */
HUSH_API char *hush_strdup(const char *s);

/** Checked size arithmetic: true on success, false if the result overflows. */
static inline bool hush_size_mul(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool hush_size_add(size_t a, size_t b, size_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

/**
 * Parses a whole string as an unsigned decimal integer in [min, max]: no sign,
 * no leading space, no trailing characters.  Returns 0, or HUSH_EINVAL /
 * HUSH_ERANGE with a message naming `what` and the text.
 */
HUSH_API int hush_parse_u64(const char *text, uint64_t min, uint64_t max,
                            const char *what, uint64_t *out,
                            hush_err *err) HUSH_WARN_UNUSED;

/** Parses a whole string as a finite double in [min, max] (inf allowed only if
 * max is inf).  Same error convention as hush_parse_u64. */
HUSH_API int hush_parse_double(const char *text, double min, double max, const char *what,
                               double *out, hush_err *err) HUSH_WARN_UNUSED;

/** One-time initialisation: libsodium, and jansson allocating through
 * hush_malloc/hush_free (see hush_set_allocator).  Idempotent; returns 0 or
 * HUSH_EIO. */
HUSH_API int hush_global_init(void) HUSH_WARN_UNUSED;

/* Little-endian load/store.  The wire and file formats are little-endian on
 * every platform; memcpy compiles to a single move on x86 and ARM. */
static inline uint32_t hush_load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}
static inline uint64_t hush_load_le64(const uint8_t *p)
{
    return (uint64_t)hush_load_le32(p) | (uint64_t)hush_load_le32(p + 4) << 32;
}
static inline void hush_store_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static inline void hush_store_le64(uint8_t *p, uint64_t v)
{
    hush_store_le32(p, (uint32_t)v);
    hush_store_le32(p + 4, (uint32_t)(v >> 32));
}
static inline uint64_t hush_double_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}
static inline double hush_bits_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* Hot loops that profit from wider vectors are compiled for several x86-64
 * levels and picked at load time (GCC/clang function multiversioning), so one
 * binary is fast on new machines and still runs on old ones. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    defined(__gnu_linux__) && !defined(HUSH_NO_MULTIVERSION)
#define HUSH_TARGET_CLONES \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define HUSH_TARGET_CLONES
#endif

#ifdef __cplusplus
}
#endif
#endif /* HUSH_COMMON_H */
