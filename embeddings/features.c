/*
 * features.c - hashed word and character n-gram features of normalized text,
 * and the deterministic logarithm the weights use.
 *
 * A word n-gram is n consecutive tokens; in normalized text they are one
 * contiguous substring (tokens are separated by single spaces), hashed as
 * is with XXH3-64 under seed + n.  A character n-gram is n consecutive code
 * points of "<token>" (fastText's boundary markers), hashed under
 * seed + 64 + n.  Bit 0 of every stored hash is replaced by the feature's
 * group (word or char), so the two groups never share a feature.
 */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "embed_internal.h"

#define LN2 0.6931471805599453094

/* 1 + ln(tf) for tf < 256, as hush__det_log computes it (checked bit for bit
 * by tests/embeddings/test_normalize.c); entry 0 is unused. */
const double hush__sublinear_table[256] = {
    0x0.0p+0,
    0x1.0000000000000p+0,
    0x1.b17217f7d1cf8p+0,
    0x1.0c9f53d568186p+1,
    0x1.317217f7d1cf8p+1,
    0x1.4e020fbf6c69ap+1,
    0x1.65585fd151001p+1,
    0x1.7913957192d2bp+1,
    0x1.8a2b23f3bab73p+1,
    0x1.993ea7aad030ap+1,
    0x1.a6bb1bbb55515p+1,
    0x1.b2ee3b77f374bp+1,
    0x1.be116bcd39e7dp+1,
    0x1.c85042b318c50p+1,
    0x1.d1cca16d7bba7p+1,
    0x1.daa16394d481fp+1,
    0x1.e2e42fefa39efp+1,
    0x1.eaa6bc1fa7f7ap+1,
    0x1.f1f7b3a6b9186p+1,
    0x1.f8e360604b32cp+1,
    0x1.ff7427b73e391p+1,
    0x1.02d974a37d758p+2,
    0x1.05d3a3b9ee2e4p+2,
    0x1.08abefee8d9f8p+2,
    0x1.0b653be49167cp+2,
    0x1.0e020fbf6c69ap+2,
    0x1.1084a75780d66p+2,
    0x1.12eefdc01c248p+2,
    0x1.1542d6b4b2512p+2,
    0x1.1781c65e6ff0fp+2,
    0x1.19ad37c85eb4ep+2,
    0x1.1bc67244895adp+2,
    0x1.1dce9df5c6436p+2,
    0x1.1fc6c7a6adc68p+2,
    0x1.21afe40dc86fbp+2,
    0x1.238ad2987f9e2p+2,
    0x1.25585fd151001p+2,
    0x1.27194771d63dep+2,
    0x1.28ce362e1a0d4p+2,
    0x1.2a77cb44406ebp+2,
    0x1.2c1699d993906p+2,
    0x1.2dab2a2c75627p+2,
    0x1.2f35faa171e96p+2,
    0x1.30b780b0a7608p+2,
    0x1.323029b7e2a22p+2,
    0x1.33a05bb51e4d2p+2,
    0x1.350875ec82136p+2,
    0x1.3668d17c8785bp+2,
    0x1.37c1c1e285dbap+2,
    0x1.3913957192d2cp+2,
    0x1.3a5e95bd60dd8p+2,
    0x1.3ba307fa88080p+2,
    0x1.3ce12d55754a4p+2,
    0x1.3e19434111e56p+2,
    0x1.3f4b83be10986p+2,
    0x1.4078259bafef3p+2,
    0x1.419f5cb2a6c4fp+2,
    0x1.42c15a1ad9a59p+2,
    0x1.43de4c5c6464dp+2,
    0x1.44f65f9c72979p+2,
    0x1.4609bdc65328cp+2,
    0x1.47188eb126c0cp+2,
    0x1.4822f8427dcebp+2,
    0x1.49291e8e3181bp+2,
    0x1.4a2b23f3bab73p+2,
    0x1.4b29293942975p+2,
    0x1.4c234da4a23a6p+2,
    0x1.4d19af128112dp+2,
    0x1.4e0c6a0bbce38p+2,
    0x1.4efb99d941abap+2,
    0x1.4fe7589674120p+2,
    0x1.50cfbf424d6c9p+2,
    0x1.51b4e5cf4573fp+2,
    0x1.5296e33222fe6p+2,
    0x1.5375cd6fcab1cp+2,
    0x1.5451b9aa2075cp+2,
    0x1.552abc2c0e812p+2,
    0x1.5600e874c323bp+2,
    0x1.56d4514234e29p+2,
    0x1.57a5089afb173p+2,
    0x1.58731fd788044p+2,
    0x1.593ea7aad030ap+2,
    0x1.5a07b02a69d64p+2,
    0x1.5ace48d62e481p+2,
    0x1.5b92809f665d4p+2,
    0x1.5c5465ef8a309p+2,
    0x1.5d1406ae9bd46p+2,
    0x1.5dd1704923fd2p+2,
    0x1.5e8cafb5d715fp+2,
    0x1.5f45d17ae8af6p+2,
    0x1.5ffce1b312c10p+2,
    0x1.60b1ec1255cbep+2,
    0x1.6164fbea76873p+2,
    0x1.62161c2f3d66fp+2,
    0x1.62c5577a7bf99p+2,
    0x1.6372b80fdbce3p+2,
    0x1.641e47e07a4f8p+2,
    0x1.64c8108e54bf8p+2,
    0x1.65701b6f87469p+2,
    0x1.6616719161d2bp+2,
    0x1.66bb1bbb55515p+2,
    0x1.675e2271bba30p+2,
    0x1.67ff8df87c7bdp+2,
    0x1.689f6655913ecp+2,
    0x1.693db35369be2p+2,
    0x1.69da7c8333aa5p+2,
    0x1.6a75c93f06593p+2,
    0x1.6b0fa0abf475bp+2,
    0x1.6ba809bc050c4p+2,
    0x1.6c3f0b3015506p+2,
    0x1.6cd4ab99a4630p+2,
    0x1.6d68f15c8a4a1p+2,
    0x1.6dfbe2b09b38dp+2,
    0x1.6e8d85a33835cp+2,
    0x1.6f1de018ce197p+2,
    0x1.6facf7ce43d44p+2,
    0x1.703ad25a58d8bp+2,
    0x1.70c7752ef47adp+2,
    0x1.7152e59a670b6p+2,
    0x1.71dd28c89d652p+2,
    0x1.726643c4479c9p+2,
    0x1.72ee3b77f374cp+2,
    0x1.737514af1b34ap+2,
    0x1.73fad417296e9p+2,
    0x1.747f7e4072428p+2,
    0x1.7503179f229e6p+2,
    0x1.7585a48c25f59p+2,
    0x1.7607294602e42p+2,
    0x1.7687a9f1af2b1p+2,
    0x1.77072a9b5b6cbp+2,
    0x1.7785af37370b3p+2,
    0x1.78033ba22c862p+2,
    0x1.787fd3a296ae4p+2,
    0x1.78fb7ae8ef02cp+2,
    0x1.797635107586bp+2,
    0x1.79f0059fd2594p+2,
    0x1.7a68f009b1576p+2,
    0x1.7ae0f7ad5809dp+2,
    0x1.7b581fd7361f8p+2,
    0x1.7bce6bc170b12p+2,
    0x1.7c43de946885ep+2,
    0x1.7cb87b673b91ep+2,
    0x1.7d2c454041e07p+2,
    0x1.7d9f3f15861cep+2,
    0x1.7e116bcd39e7dp+2,
    0x1.7e82ce3e2625cp+2,
    0x1.7ef3693017724p+2,
    0x1.7f633f5c46deep+2,
    0x1.7fd2536dbf25ap+2,
    0x1.8040a801be72dp+2,
    0x1.80ae3fa814e9ap+2,
    0x1.811b1ce380053p+2,
    0x1.8187422a02f50p+2,
    0x1.81f2b1e53c142p+2,
    0x1.825d6e72b7979p+2,
    0x1.82c77a243f8fap+2,
    0x1.8330d74029567p+2,
    0x1.83998801a085cp+2,
    0x1.84018e98ef8b1p+2,
    0x1.8468ed2bc5f18p+2,
    0x1.84cfa5d57c782p+2,
    0x1.8535baa75708ep+2,
    0x1.859b2da8c4a48p+2,
    0x1.860000d79d57bp+2,
    0x1.866436285e4a2p+2,
    0x1.86c7cf8663fb5p+2,
    0x1.872aced422bbfp+2,
    0x1.878d35eb5d75ep+2,
    0x1.87ef069d5ad12p+2,
    0x1.885042b318c51p+2,
    0x1.88b0ebed7ea47p+2,
    0x1.891104058db1bp+2,
    0x1.89708cac90484p+2,
    0x1.89cf878c47a86p+2,
    0x1.8a2df64718710p+2,
    0x1.8a8bda7835d2fp+2,
    0x1.8ae935b3cb89dp+2,
    0x1.8b46098726a3bp+2,
    0x1.8ba25778dd234p+2,
    0x1.8bfe2108f4858p+2,
    0x1.8c5967b10734ep+2,
    0x1.8cb42ce468f2ap+2,
    0x1.8d0e72104a3fcp+2,
    0x1.8d68389bdaccfp+2,
    0x1.8dc181e86afb1p+2,
    0x1.8e1a4f518c72bp+2,
    0x1.8e72a22d31dadp+2,
    0x1.8eca7bcbcdb62p+2,
    0x1.8f21dd78706d7p+2,
    0x1.8f78c878e58ddp+2,
    0x1.8fcf3e0dd0421p+2,
    0x1.90253f72c70bap+2,
    0x1.907acdde6ec36p+2,
    0x1.90cfea8294e62p+2,
    0x1.9124968c49336p+2,
    0x1.9178d323f6a38p+2,
    0x1.91cca16d7bba7p+2,
    0x1.92200288423c1p+2,
    0x1.9272f78f56469p+2,
    0x1.92c581997cd86p+2,
    0x1.9317a1b949c53p+2,
    0x1.936958fd351f0p+2,
    0x1.93baa86fb016ep+2,
    0x1.940b9117395a5p+2,
    0x1.945c13f670efbp+2,
    0x1.94ac320c2b973p+2,
    0x1.94fbec5385b2ap+2,
    0x1.954b43c3f5b7dp+2,
    0x1.959a39515e320p+2,
    0x1.95e8cdec1f53cp+2,
    0x1.96370281281e3p+2,
    0x1.9684d7fa071fap+2,
    0x1.96d24f3cfacd1p+2,
    0x1.971f692d0178bp+2,
    0x1.976c26a9e8e99p+2,
    0x1.97b888905d955p+2,
    0x1.98048fb9f9802p+2,
    0x1.98503cfd52c42p+2,
    0x1.989b912e09c44p+2,
    0x1.98e68d1cd70a8p+2,
    0x1.9931319798d6ep+2,
    0x1.997b7f69605e5p+2,
    0x1.99c5775a7ebdfp+2,
    0x1.9a0f1a3091a36p+2,
    0x1.9a5868ae8facbp+2,
    0x1.9aa16394d481fp+2,
    0x1.9aea0ba12ca9ap+2,
    0x1.9b32618ee11aap+2,
    0x1.9b7a6616c28d5p+2,
    0x1.9bc219ef348c2p+2,
    0x1.9c097dcc38482p+2,
    0x1.9c50925f772fep+2,
    0x1.9c9758584d4c9p+2,
    0x1.9cddd063d365fp+2,
    0x1.9d23fb2ce8eebp+2,
    0x1.9d69d95c3dba8p+2,
    0x1.9daf6b985b7f4p+2,
    0x1.9df4b285af235p+2,
    0x1.9e39aec691d90p+2,
    0x1.9e7e60fb52099p+2,
    0x1.9ec2c9c23c107p+2,
    0x1.9f06e9b7a2c7ep+2,
    0x1.9f4ac175e7e8ap+2,
    0x1.9f8e5195843cdp+2,
    0x1.9fd19aad0fa88p+2,
    0x1.a0149d5149078p+2,
    0x1.a0575a151de27p+2,
    0x1.a099d189b1fbep+2,
    0x1.a0dc043e66b66p+2,
    0x1.a11df2c0e2544p+2,
    0x1.a15f9d9d17124p+2,
    0x1.a1a1055d4a1e2p+2,
    0x1.a1e22a8a1a697p+2,
    0x1.a2230daa8759ep+2,
    0x1.a263af43f7580p+2,
    0x1.a2a40fda3e3ccp+2,
};

double hush__det_log(double x)
{
    /* x = m 2^k, m in [1, 2): halving is exact. */
    double k = 0.0;
    while (x >= 2.0) {
        x *= 0.5;
        k += 1.0;
    }
    /* ln m = 2 atanh(s), s = (m-1)/(m+1) < 1/3: 30 terms reach far below
     * one ulp, and a fixed count keeps the operation sequence fixed. */
    double s = (x - 1.0) / (x + 1.0);
    double s2 = s * s;
    double term = s;
    double sum = 0.0;
    for (int i = 0; i < 30; i++) {
        sum += term / (2.0 * i + 1.0);
        term *= s2;
    }
    return k * LN2 + 2.0 * sum;
}

void hush__features_dispose(hush__features *f)
{
    hush_free(f->h);
    f->h = NULL;
    f->n = f->cap = 0;
}

static inline int push(hush__features *f, uint64_t h, unsigned group)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 1024;
        uint64_t *nh = hush_realloc(f->h, cap * sizeof *nh);
        if (nh == NULL) {
            return HUSH_ENOMEM;
        }
        f->h = nh;
        f->cap = cap;
    }
    f->h[f->n++] = (h & ~UINT64_C(1)) | group;
    return 0;
}

/* The char n-grams of one token, with caller-provided scratch space for
 * "<token>" and its code point offsets (at least len + 3 entries each). */
static int char_ngrams(const hush__ngram_config *cfg, const char *tok, size_t len,
                       char *buf, size_t *off, hush__features *f)
{
    size_t blen = len + 2;
    buf[0] = '<';
    memcpy(buf + 1, tok, len);
    buf[blen - 1] = '>';
    size_t ncp = 0;
    for (size_t i = 0; i < blen;) {
        size_t used = 1;
        if ((uint8_t)buf[i] >= 0x80) {
            hush__utf8_decode((const uint8_t *)buf + i, blen - i, &used);
        }
        off[ncp++] = i;
        i += used;
    }
    off[ncp] = blen;
    for (uint32_t n = cfg->char_min; n <= cfg->char_max; n++) {
        for (size_t i = 0; i + n <= ncp; i++) {
            uint64_t h = XXH3_64bits_withSeed(buf + off[i], off[i + n] - off[i],
                                              cfg->seed + 64 + n);
            if (push(f, h, HUSH__GROUP_CHAR) != 0) {
                return HUSH_ENOMEM;
            }
        }
    }
    return 0;
}

int hush__extract_char_ngrams(const hush__ngram_config *cfg, const char *tok, size_t len,
                              hush__features *f)
{
    if (cfg->char_max == 0 || len == 0) {
        return 0;
    }
    char *buf = hush_malloc(len + 3);
    size_t *off = hush_malloc((len + 3) * sizeof *off);
    int rc = buf != NULL && off != NULL ? char_ngrams(cfg, tok, len, buf, off, f)
                                        : HUSH_ENOMEM;
    hush_free(buf);
    hush_free(off);
    return rc;
}

int hush__extract_features(const hush__ngram_config *cfg, const char *norm, size_t len,
                           hush__features *f)
{
    /* token boundaries */
    size_t ntok = 0;
    for (size_t i = 0; i < len; i++) {
        ntok += (i == 0 || norm[i - 1] == ' ') && norm[i] != ' ';
    }
    if (ntok == 0) {
        return 0;
    }
    size_t *start = hush_malloc(ntok * sizeof *start);
    size_t *end = hush_malloc(ntok * sizeof *end);
    int rc = 0;
    if (start == NULL || end == NULL) {
        rc = HUSH_ENOMEM;
        goto out;
    }
    size_t t = 0;
    for (size_t i = 0; i < len; i++) {
        if ((i == 0 || norm[i - 1] == ' ') && norm[i] != ' ') {
            start[t] = i;
        }
        if (norm[i] != ' ' && (i + 1 == len || norm[i + 1] == ' ')) {
            end[t++] = i + 1;
        }
    }
    for (uint32_t n = cfg->word_min; n != 0 && n <= cfg->word_max && rc == 0; n++) {
        for (size_t i = 0; i + n <= ntok; i++) {
            uint64_t h = XXH3_64bits_withSeed(norm + start[i], end[i + n - 1] - start[i],
                                              cfg->seed + n);
            if ((rc = push(f, h, HUSH__GROUP_WORD)) != 0) {
                break;
            }
        }
    }
    if (cfg->char_max != 0 && rc == 0) {
        /* one scratch buffer for every token's "<token>" */
        size_t longest = 0;
        for (size_t i = 0; i < ntok; i++) {
            longest = end[i] - start[i] > longest ? end[i] - start[i] : longest;
        }
        char *buf = hush_malloc(longest + 3);
        size_t *off = hush_malloc((longest + 3) * sizeof *off);
        if (buf == NULL || off == NULL) {
            rc = HUSH_ENOMEM;
        }
        for (size_t i = 0; i < ntok && rc == 0; i++) {
            rc = char_ngrams(cfg, norm + start[i], end[i] - start[i], buf, off, f);
        }
        hush_free(buf);
        hush_free(off);
    }
out:
    hush_free(start);
    hush_free(end);
    return rc;
}

/* LSD radix sort, eight passes of eight bits: the same ascending order as a
 * comparison sort (so the same floating-point sums downstream), in linear
 * time.  Passes whose byte is constant across the input are skipped. */
int hush__features_sort(hush__features *f)
{
    size_t n = f->n;
    if (n < 2) {
        return 0;
    }
    uint64_t *tmp = hush_malloc(n * sizeof *tmp);
    if (tmp == NULL) {
        return HUSH_ENOMEM;
    }
    uint64_t *src = f->h, *dst = tmp;
    for (unsigned shift = 0; shift < 64; shift += 8) {
        size_t count[256] = {0};
        for (size_t i = 0; i < n; i++) {
            count[(src[i] >> shift) & 0xffu]++;
        }
        if (count[(src[0] >> shift) & 0xffu] == n) {
            continue;
        }
        size_t pos = 0;
        for (unsigned b = 0; b < 256; b++) {
            size_t c = count[b];
            count[b] = pos;
            pos += c;
        }
        for (size_t i = 0; i < n; i++) {
            dst[count[(src[i] >> shift) & 0xffu]++] = src[i];
        }
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != f->h) {
        memcpy(f->h, src, n * sizeof *src);
    }
    hush_free(tmp);
    return 0;
}
