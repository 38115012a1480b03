/*
 * matrix.c - float32 and int8 matrices, their file format and base64 form.
 *
 * Format "HUSHMAT1" (little-endian):
 *   off size field
 *     0    8 magic
 *     8    4 version (1)
 *    12    4 type (1 float32, 2 int8)
 *    16    4 rows
 *    20    4 cols
 *    24    . int8 only: rows float32 scales
 *     .    . data, row-major (float32 bits or int8)
 *   end    8 XXH3-64 of everything before
 *
 * int8 rows carry a scale: value ~ scale * q, scale = max|x| / 127, q rounded
 * to nearest, so |value - scale*q| <= scale/2.  Rows also keep their int8 L2
 * norm (not stored: recomputed on load), which the cosine search divides by.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "embed_internal.h"
#include "matrix_internal.h"

#define MAT_MAGIC "HUSHMAT1"
#define MAT_HEADER 24u

void hush_matrix_free(hush_matrix *m)
{
    if (m != NULL) {
        hush_free(m->f32);
        hush_free(m->i8_raw);
        hush_free(m->scale);
        hush_free(m->norm);
        hush_free(m);
    }
}

int hush_matrix_new(hush_matrix_type type, uint32_t rows, uint32_t cols,
                    hush_matrix **out, hush_err *err)
{
    if (type != HUSH_MATRIX_F32 && type != HUSH_MATRIX_I8) {
        return hush_err_set(err, HUSH_EINVAL,
                            "matrix type must be 1 (float32) or 2 (int8), "
                            "got %d",
                            (int)type);
    }
    if (cols == 0) {
        return hush_err_set(err, HUSH_EINVAL, "a matrix needs at least one column");
    }
    if (cols > HUSH_MATRIX_COLS_MAX) {
        return hush_err_set(err, HUSH_ETOOBIG,
                            "a matrix of %u columns exceeds the %u limit", cols,
                            HUSH_MATRIX_COLS_MAX);
    }
    uint64_t cells = (uint64_t)rows * cols;
    if (cells > HUSH_MATRIX_CELLS_MAX) {
        return hush_err_set(err, HUSH_ETOOBIG, "%u x %u matrix exceeds %llu cells", rows,
                            cols, (unsigned long long)HUSH_MATRIX_CELLS_MAX);
    }
    hush_matrix *m = hush_calloc(1, sizeof *m);
    if (m == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory for a matrix");
    }
    m->type = type;
    m->rows = rows;
    m->cols = cols;
    size_t n = cells ? (size_t)cells : 1;
    /* rows padded so that each int8 row starts 64-byte aligned for the search
     * kernel; float rows stay dense */
    if (type == HUSH_MATRIX_F32) {
        m->f32 = hush_calloc(n, sizeof *m->f32);
    } else {
        m->stride = (cols + 63u) & ~63u;
        m->i8_raw = hush_calloc((size_t)(rows ? rows : 1) * m->stride + 63, 1);
        m->i8 = m->i8_raw != NULL ? hush__align64(m->i8_raw) : NULL;
        m->scale = hush_calloc(rows ? rows : 1, sizeof *m->scale);
    }
    m->norm = hush_calloc(rows ? rows : 1, sizeof *m->norm);
    if ((type == HUSH_MATRIX_F32 && m->f32 == NULL) ||
        (type == HUSH_MATRIX_I8 && (m->i8 == NULL || m->scale == NULL)) ||
        m->norm == NULL) {
        hush_matrix_free(m);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory for a %u x %u matrix", rows,
                            cols);
    }
    for (uint32_t r = 0; m->scale != NULL && r < rows; r++) {
        m->scale[r] = 1.0f; /* a zero row's scale, as hush_matrix_set_row sets it */
    }
    *out = m;
    return 0;
}

hush_matrix_type hush_matrix_get_type(const hush_matrix *m)
{
    return m->type;
}

uint32_t hush_matrix_rows(const hush_matrix *m)
{
    return m->rows;
}

uint32_t hush_matrix_cols(const hush_matrix *m)
{
    return m->cols;
}

float *hush_matrix_row_f32(hush_matrix *m, uint32_t r)
{
    return m->type == HUSH_MATRIX_F32 && r < m->rows ? m->f32 + (size_t)r * m->cols
                                                     : NULL;
}

const float *hush_matrix_crow_f32(const hush_matrix *m, uint32_t r)
{
    return m->type == HUSH_MATRIX_F32 && r < m->rows ? m->f32 + (size_t)r * m->cols
                                                     : NULL;
}

const int8_t *hush_matrix_row_i8(const hush_matrix *m, uint32_t r)
{
    return m->type == HUSH_MATRIX_I8 && r < m->rows ? m->i8 + (size_t)r * m->stride
                                                    : NULL;
}

float hush_matrix_scale(const hush_matrix *m, uint32_t r)
{
    return m->type == HUSH_MATRIX_I8 && r < m->rows ? m->scale[r] : 1.0f;
}

/* The L2 norm of a stored row (in stored units), kept for the search. */
void hush__matrix_update_norm(hush_matrix *m, uint32_t r)
{
    double ss = 0.0;
    if (m->type == HUSH_MATRIX_F32) {
        const float *x = m->f32 + (size_t)r * m->cols;
        for (uint32_t i = 0; i < m->cols; i++) {
            ss += (double)x[i] * x[i];
        }
    } else {
        const int8_t *q = m->i8 + (size_t)r * m->stride;
        int64_t s = 0;
        for (uint32_t i = 0; i < m->cols; i++) {
            s += (int32_t)q[i] * q[i];
        }
        ss = (double)s;
    }
    m->norm[r] = (float)sqrt(ss);
}

int hush_matrix_set_row(hush_matrix *m, uint32_t r, const float *values, size_t n,
                        hush_err *err)
{
    if (r >= m->rows || n != m->cols) {
        return hush_err_set(err, HUSH_EINVAL, "row %u of %u with %zu values (need %u)", r,
                            m->rows, n, m->cols);
    }
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(values[i])) {
            return hush_err_set(err, HUSH_EINVAL, "row %u value %zu is not finite", r, i);
        }
    }
    if (m->type == HUSH_MATRIX_F32) {
        memcpy(m->f32 + (size_t)r * m->cols, values, n * sizeof *values);
    } else {
        float maxabs = 0.0f;
        for (size_t i = 0; i < n; i++) {
            float a = fabsf(values[i]);
            maxabs = a > maxabs ? a : maxabs;
        }
        float scale = maxabs > 0.0f ? maxabs / 127.0f : 1.0f;
        int8_t *q = m->i8 + (size_t)r * m->stride;
        for (size_t i = 0; i < n; i++) {
            long v = lrintf(values[i] / scale);
            q[i] = (int8_t)(v > 127 ? 127 : (v < -127 ? -127 : v));
        }
        m->scale[r] = scale;
    }
    hush__matrix_update_norm(m, r);
    return 0;
}

void hush_matrix_get_row(const hush_matrix *m, uint32_t r, float *out)
{
    if (m->type == HUSH_MATRIX_F32) {
        memcpy(out, m->f32 + (size_t)r * m->cols, m->cols * sizeof *out);
    } else {
        const int8_t *q = m->i8 + (size_t)r * m->stride;
        for (uint32_t i = 0; i < m->cols; i++) {
            out[i] = m->scale[r] * (float)q[i];
        }
    }
}

int hush_matrix_quantize(const hush_matrix *f32, hush_matrix **out, hush_err *err)
{
    if (f32->type != HUSH_MATRIX_F32) {
        return hush_err_set(err, HUSH_EINVAL, "only a float32 matrix can be quantized");
    }
    hush_matrix *q = NULL;
    int rc = hush_matrix_new(HUSH_MATRIX_I8, f32->rows, f32->cols, &q, err);
    for (uint32_t r = 0; rc == 0 && r < f32->rows; r++) {
        rc = hush_matrix_set_row(q, r, f32->f32 + (size_t)r * f32->cols, f32->cols, err);
    }
    if (rc != 0) {
        hush_matrix_free(q);
        return rc;
    }
    *out = q;
    return 0;
}

static size_t serialized_size(const hush_matrix *m)
{
    size_t cells = (size_t)m->rows * m->cols;
    if (m->type == HUSH_MATRIX_F32) {
        return MAT_HEADER + cells * 4 + 8;
    }
    return MAT_HEADER + (size_t)m->rows * 4 + cells + 8;
}

int hush_matrix_serialize(const hush_matrix *m, uint8_t **out, size_t *out_len,
                          hush_err *err)
{
    size_t len = serialized_size(m);
    uint8_t *buf = hush_malloc(len);
    if (buf == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory serializing a matrix");
    }
    memcpy(buf, MAT_MAGIC, 8);
    hush_store_le32(buf + 8, 1);
    hush_store_le32(buf + 12, (uint32_t)m->type);
    hush_store_le32(buf + 16, m->rows);
    hush_store_le32(buf + 20, m->cols);
    uint8_t *p = buf + MAT_HEADER;
    if (m->type == HUSH_MATRIX_F32) {
        for (size_t i = 0; i < (size_t)m->rows * m->cols; i++, p += 4) {
            uint32_t bits;
            memcpy(&bits, &m->f32[i], 4);
            hush_store_le32(p, bits);
        }
    } else {
        for (uint32_t r = 0; r < m->rows; r++, p += 4) {
            uint32_t bits;
            memcpy(&bits, &m->scale[r], 4);
            hush_store_le32(p, bits);
        }
        for (uint32_t r = 0; r < m->rows; r++, p += m->cols) {
            memcpy(p, m->i8 + (size_t)r * m->stride, m->cols);
        }
    }
    hush_store_le64(p, XXH3_64bits(buf, len - 8));
    *out = buf;
    *out_len = len;
    return 0;
}

/* Checks a header (the first MAT_HEADER bytes) and returns the total
 * serialized length it implies. */
static int read_header(const uint8_t *h, uint32_t *type, uint32_t *rows, uint32_t *cols,
                       uint64_t *total, hush_err *err)
{
    if (memcmp(h, MAT_MAGIC, 8) != 0) {
        return hush_err_set(err, HUSH_ECORRUPT, "not a hush matrix (bad magic)");
    }
    if (hush_load_le32(h + 8) != 1) {
        return hush_err_set(err, HUSH_EVERSION,
                            "matrix format version %u is not supported",
                            hush_load_le32(h + 8));
    }
    *type = hush_load_le32(h + 12);
    *rows = hush_load_le32(h + 16);
    *cols = hush_load_le32(h + 20);
    if (*type != HUSH_MATRIX_F32 && *type != HUSH_MATRIX_I8) {
        return hush_err_set(err, HUSH_ECORRUPT, "matrix type %u is unknown", *type);
    }
    if ((uint64_t)*rows * *cols > HUSH_MATRIX_CELLS_MAX || *cols == 0 ||
        *cols > HUSH_MATRIX_COLS_MAX) {
        return hush_err_set(err, HUSH_ECORRUPT, "matrix shape %u x %u is invalid", *rows,
                            *cols);
    }
    *total = MAT_HEADER + 8 +
             (uint64_t)*rows * *cols * (*type == HUSH_MATRIX_F32 ? 4 : 1) +
             (*type == HUSH_MATRIX_I8 ? (uint64_t)*rows * 4 : 0);
    return 0;
}

/* Copies serialized bytes [off, off + n) of the body (after the header,
 * before the checksum) to where they belong in the matrix.  Scales and
 * floats are copied as their little-endian bytes and converted in finish(). */
static void place(hush_matrix *m, uint64_t off, const uint8_t *p, size_t n)
{
    uint64_t d = off - MAT_HEADER;
    if (m->type == HUSH_MATRIX_F32) {
        memcpy((uint8_t *)m->f32 + d, p, n);
        return;
    }
    uint64_t scales = (uint64_t)m->rows * 4;
    while (n > 0) {
        size_t take;
        if (d < scales) {
            take = (size_t)(scales - d) < n ? (size_t)(scales - d) : n;
            memcpy((uint8_t *)m->scale + d, p, take);
        } else {
            uint64_t cell = d - scales;
            uint64_t col = cell % m->cols;
            take = (size_t)(m->cols - col) < n ? (size_t)(m->cols - col) : n;
            memcpy(m->i8 + (cell / m->cols) * m->stride + col, p, take);
        }
        p += take;
        d += take;
        n -= take;
    }
}

/* Converts the placed little-endian values, checks them, computes norms. */
static int finish(hush_matrix *m, hush_err *err)
{
    if (m->type == HUSH_MATRIX_F32) {
        for (size_t i = 0; i < (size_t)m->rows * m->cols; i++) {
            uint32_t bits = hush_load_le32((const uint8_t *)&m->f32[i]);
            memcpy(&m->f32[i], &bits, 4);
            if (!isfinite(m->f32[i])) {
                return hush_err_set(err, HUSH_ECORRUPT, "matrix value %zu is not finite",
                                    i);
            }
        }
    } else {
        for (uint32_t r = 0; r < m->rows; r++) {
            uint32_t bits = hush_load_le32((const uint8_t *)&m->scale[r]);
            memcpy(&m->scale[r], &bits, 4);
            if (!isfinite(m->scale[r]) || !(m->scale[r] > 0.0f)) {
                return hush_err_set(err, HUSH_ECORRUPT, "matrix row %u scale is invalid",
                                    r);
            }
            const int8_t *q = m->i8 + (size_t)r * m->stride;
            for (uint32_t c = 0; c < m->cols; c++) {
                if (q[c] == -128) {
                    return hush_err_set(err, HUSH_ECORRUPT,
                                        "matrix row %u holds -128 (values are -127..127)",
                                        r);
                }
            }
        }
    }
    for (uint32_t r = 0; r < m->rows; r++) {
        hush__matrix_update_norm(m, r);
    }
    return 0;
}

int hush_matrix_deserialize(const uint8_t *buf, size_t len, hush_matrix **out,
                            hush_err *err)
{
    uint32_t type, rows, cols;
    uint64_t total;
    if (buf == NULL || len < MAT_HEADER + 8) {
        return hush_err_set(err, HUSH_ECORRUPT, "not a hush matrix (%zu bytes)",
                            buf != NULL ? len : 0);
    }
    int rc = read_header(buf, &type, &rows, &cols, &total, err);
    if (rc != 0) {
        return rc;
    }
    if (XXH3_64bits(buf, len - 8) != hush_load_le64(buf + len - 8)) {
        return hush_err_set(err, HUSH_ECORRUPT, "matrix checksum mismatch");
    }
    if (total != len) {
        return hush_err_set(err, HUSH_ECORRUPT,
                            "a %u x %u matrix needs %llu bytes, got %zu", rows, cols,
                            (unsigned long long)total, len);
    }
    hush_matrix *m = NULL;
    if ((rc = hush_matrix_new((hush_matrix_type)type, rows, cols, &m, err)) != 0) {
        return rc;
    }
    place(m, MAT_HEADER, buf + MAT_HEADER, len - MAT_HEADER - 8);
    if ((rc = finish(m, err)) != 0) {
        hush_matrix_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int hush_matrix_to_base64(const hush_matrix *m, char **out, hush_err *err)
{
    uint8_t *bin = NULL;
    size_t len = 0;
    int rc = hush_matrix_serialize(m, &bin, &len, err);
    if (rc != 0) {
        return rc;
    }
    size_t b64len = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = hush_malloc(b64len);
    if (b64 == NULL) {
        hush_free(bin);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory encoding a matrix");
    }
    sodium_bin2base64(b64, b64len, bin, len, sodium_base64_VARIANT_ORIGINAL);
    hush_free(bin);
    *out = b64;
    return 0;
}

/* Decodes base64 in chunks straight into the matrix, so that a large matrix
 * (a device's candidate matrix) never exists twice in memory. */
int hush_matrix_from_base64(const char *b64, size_t len, hush_matrix **out, hush_err *err)
{
    enum { CHUNK = 4096 }; /* base64 characters per step: a multiple of 4 */
    uint8_t bin[CHUNK / 4 * 3];
    size_t got = 0;
    const char *end = NULL;
    if (b64 == NULL || len % 4 != 0 || len < 4 * ((MAT_HEADER + 8 + 2) / 3)) {
        return hush_err_set(err, HUSH_EINVAL, "matrix is not valid base64 (length %zu)",
                            len);
    }
    /* the header: the first 32 characters are exactly its 24 bytes */
    if (sodium_base642bin(bin, sizeof bin, b64, 32, NULL, &got, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        got != MAT_HEADER) {
        return hush_err_set(err, HUSH_EINVAL, "matrix is not valid base64");
    }
    uint32_t type, rows, cols;
    uint64_t total;
    int rc = read_header(bin, &type, &rows, &cols, &total, err);
    if (rc != 0) {
        return rc;
    }
    if ((total + 2) / 3 * 4 != len) {
        return hush_err_set(err, HUSH_ECORRUPT,
                            "a %u x %u matrix needs %llu bytes of base64, "
                            "got %zu",
                            rows, cols, (unsigned long long)((total + 2) / 3 * 4), len);
    }
    hush_matrix *m = NULL;
    XXH3_state_t *st = XXH3_createState();
    if (st == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory decoding a matrix");
    }
    XXH3_64bits_reset(st);
    XXH3_64bits_update(st, bin, MAT_HEADER);
    if ((rc = hush_matrix_new((hush_matrix_type)type, rows, cols, &m, err)) != 0) {
        XXH3_freeState(st);
        return rc;
    }
    uint64_t body_end = total - 8; /* the checksum's offset */
    uint8_t sum[8] = {0};
    uint64_t off = MAT_HEADER;
    for (size_t pos = 32; pos < len && rc == 0; pos += CHUNK) {
        size_t n = len - pos < CHUNK ? len - pos : CHUNK;
        if (sodium_base642bin(bin, sizeof bin, b64 + pos, n, NULL, &got, &end,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            end != b64 + pos + n || (got != n / 4 * 3 && pos + n != len)) {
            rc = hush_err_set(err, HUSH_EINVAL, "matrix is not valid base64");
            break;
        }
        /* the body part of this chunk, then any checksum bytes */
        size_t body =
            off < body_end ? (size_t)(body_end - off < got ? body_end - off : got) : 0;
        XXH3_64bits_update(st, bin, body);
        place(m, off, bin, body);
        for (size_t i = body; i < got && off + i < total; i++) {
            sum[off + i - body_end] = bin[i];
        }
        off += got;
    }
    if (rc == 0 && off != total) {
        rc = hush_err_set(err, HUSH_ECORRUPT, "matrix is truncated");
    }
    if (rc == 0 && XXH3_64bits_digest(st) != hush_load_le64(sum)) {
        rc = hush_err_set(err, HUSH_ECORRUPT, "matrix checksum mismatch");
    }
    XXH3_freeState(st);
    if (rc == 0) {
        rc = finish(m, err);
    }
    if (rc != 0) {
        hush_matrix_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int hush_matrix_save(const hush_matrix *m, const char *path, hush_err *err)
{
    uint8_t *bin = NULL;
    size_t len = 0;
    int rc = hush_matrix_serialize(m, &bin, &len, err);
    if (rc != 0) {
        return rc;
    }
    size_t tlen = strlen(path) + 16;
    char *tmp = hush_malloc(tlen);
    int fd = -1;
    if (tmp == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = hush_err_set(err, HUSH_EIO, "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, bin + off, len - off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            rc = hush_err_set(err, HUSH_EIO, "cannot write %s: %s", tmp, strerror(errno));
            goto out;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0) {
        rc = hush_err_set(err, HUSH_EIO, "cannot sync %s: %s", tmp, strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = hush_err_set(err, HUSH_EIO, "cannot rename %s to %s: %s", tmp, path,
                          strerror(errno));
    }
out:
    if (fd >= 0) {
        close(fd);
    }
    if (rc != 0 && tmp != NULL) {
        unlink(tmp);
    }
    hush_free(tmp);
    hush_free(bin);
    return rc;
}

int hush_matrix_load(const char *path, hush_matrix **out, hush_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return hush_err_set(err, HUSH_EIO, "cannot open %s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < 0 ||
        (uint64_t)st.st_size > HUSH_MATRIX_CELLS_MAX * 4 + (1u << 20)) {
        close(fd);
        return hush_err_set(err, HUSH_ETOOBIG,
                            "%s is not a matrix file of a sensible size", path);
    }
    size_t len = (size_t)st.st_size;
    uint8_t *buf = hush_malloc(len ? len : 1);
    if (buf == NULL) {
        close(fd);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory reading %s", path);
    }
    size_t off = 0;
    while (off < len) {
        ssize_t r = read(fd, buf + off, len - off);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        off += (size_t)r;
    }
    close(fd);
    int rc = off == len ? hush_matrix_deserialize(buf, len, out, err)
                        : hush_err_set(err, HUSH_EIO, "cannot read %s", path);
    hush_free(buf);
    return rc;
}
