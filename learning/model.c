/*
 * model.c - dense models over embedding vectors: creation, prediction,
 * cross-entropy and its gradient (backpropagation), and minibatch SGD.
 *
 * Invariant: a model's scratch (gradient, activations) is allocated with it,
 * so prediction and every training step run without allocating.
 */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "learning_internal.h"

const char *hush_model_kind_name(hush_model_kind kind)
{
    switch (kind) {
    case HUSH_MODEL_LOGISTIC:
        return "logistic";
    case HUSH_MODEL_SOFTMAX:
        return "softmax";
    case HUSH_MODEL_MLP:
        return "mlp";
    }
    return "unknown";
}

int hush_model_kind_parse(const char *name, hush_model_kind *out, hush_err *err)
{
    static const hush_model_kind kinds[] = {HUSH_MODEL_LOGISTIC, HUSH_MODEL_SOFTMAX,
                                            HUSH_MODEL_MLP};
    for (size_t i = 0; name != NULL && i < 3; i++) {
        if (strcmp(name, hush_model_kind_name(kinds[i])) == 0) {
            *out = kinds[i];
            return 0;
        }
    }
    return hush_err_set(
        err, HUSH_EINVAL,
        "a model kind is \"logistic\", \"softmax\" or \"mlp\" (got \"%s\")",
        name != NULL ? name : "");
}

static size_t n_params(const hush_model_spec *s)
{
    size_t in = s->inputs, c = s->classes, h = s->hidden;
    switch (s->kind) {
    case HUSH_MODEL_LOGISTIC:
        return in + 1;
    case HUSH_MODEL_SOFTMAX:
        return c * in + c;
    case HUSH_MODEL_MLP:
        return h * in + h + c * h + c;
    }
    return 0;
}

int hush_model_spec_check(const hush_model_spec *s, hush_err *err)
{
    if (s->kind != HUSH_MODEL_LOGISTIC && s->kind != HUSH_MODEL_SOFTMAX &&
        s->kind != HUSH_MODEL_MLP) {
        return hush_err_set(err, HUSH_EINVAL, "unknown model kind %d", (int)s->kind);
    }
    if (s->inputs < 1 || s->inputs > 65536 || s->classes < 2 || s->classes > 1024) {
        return hush_err_set(
            err, HUSH_ERANGE,
            "a model needs 1 to 65536 inputs and 2 to 1024 classes (got %u, %u)",
            s->inputs, s->classes);
    }
    if (s->kind == HUSH_MODEL_LOGISTIC && s->classes != 2) {
        return hush_err_set(err, HUSH_EINVAL,
                            "logistic regression has 2 classes (got %u)", s->classes);
    }
    if ((s->kind == HUSH_MODEL_MLP) != (s->hidden > 0) || s->hidden > 4096) {
        return hush_err_set(
            err, HUSH_EINVAL,
            "an MLP has 1 to 4096 hidden units, other models none (got %u)", s->hidden);
    }
    if (n_params(s) > HUSH_MODEL_MAX_PARAMS) {
        return hush_err_set(err, HUSH_ETOOBIG, "%zu parameters exceed the limit of %u",
                            n_params(s), HUSH_MODEL_MAX_PARAMS);
    }
    return 0;
}

void hush_model_free(hush_model *m)
{
    if (m != NULL) {
        hush_free(m->p);
        hush_free(m->grad);
        hush_free(m->act);
        hush_free(m);
    }
}

int hush__model_alloc(const hush_model_spec *spec, hush_model **out, hush_err *err)
{
    int rc = hush_model_spec_check(spec, err);
    if (rc != 0) {
        return rc;
    }
    hush_model *m = hush_calloc(1, sizeof *m);
    if (m == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory for a model");
    }
    m->spec = *spec;
    m->n = n_params(spec);
    m->head = spec->kind == HUSH_MODEL_MLP
                  ? (size_t)spec->hidden * spec->inputs + spec->hidden
                  : 0;
    size_t outs = spec->kind == HUSH_MODEL_LOGISTIC ? 1 : spec->classes;
    /* activations: hidden pre-activation, hidden output, hidden gradient,
     * outputs (logits / probabilities), output gradient */
    m->n_act = 3 * (size_t)spec->hidden + 2 * outs + spec->classes;
    m->p = hush_calloc(m->n, sizeof *m->p);
    m->grad = hush_calloc(m->n, sizeof *m->grad);
    m->act = hush_calloc(m->n_act, sizeof *m->act);
    if (m->p == NULL || m->grad == NULL || m->act == NULL) {
        size_t n = m->n;
        hush_model_free(m);
        return hush_err_set(err, HUSH_ENOMEM,
                            "out of memory for a model of %zu parameters", n);
    }
    *out = m;
    return 0;
}

static void glorot(float *w, size_t n, size_t fan_in, size_t fan_out, hush_rng *rng)
{
    double a = sqrt(6.0 / (double)(fan_in + fan_out));
    for (size_t i = 0; i < n; i++) {
        w[i] = (float)((2 * hush_rng_unit(rng) - 1) * a);
    }
}

int hush_model_new(const hush_model_spec *spec, uint64_t seed, hush_model **out,
                   hush_err *err)
{
    hush_model *m = NULL;
    int rc = hush__model_alloc(spec, &m, err);
    if (rc != 0) {
        return rc;
    }
    hush_rng *rng = NULL;
    if (hush_rng_new_seeded_u64(seed, &rng) != 0) {
        hush_model_free(m);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory for a model");
    }
    const hush_model_spec *s = spec;
    switch (s->kind) {
    case HUSH_MODEL_LOGISTIC:
        glorot(m->p, s->inputs, s->inputs, 1, rng);
        break;
    case HUSH_MODEL_SOFTMAX:
        glorot(m->p, (size_t)s->classes * s->inputs, s->inputs, s->classes, rng);
        break;
    case HUSH_MODEL_MLP:
        glorot(m->p, (size_t)s->hidden * s->inputs, s->inputs, s->hidden, rng);
        glorot(m->p + m->head, (size_t)s->classes * s->hidden, s->hidden, s->classes,
               rng);
        break;
    }
    hush_rng_free(rng);
    *out = m;
    return 0;
}

int hush_model_clone(const hush_model *src, hush_model **out, hush_err *err)
{
    hush_model *m = NULL;
    int rc = hush__model_alloc(&src->spec, &m, err);
    if (rc != 0) {
        return rc;
    }
    memcpy(m->p, src->p, src->n * sizeof *m->p);
    *out = m;
    return 0;
}

const hush_model_spec *hush_model_get_spec(const hush_model *m)
{
    return &m->spec;
}

size_t hush_model_size(const hush_model *m)
{
    return m->n;
}

size_t hush_model_head_offset(const hush_model *m)
{
    return m->head;
}

float *hush_model_params(hush_model *m)
{
    return m->p;
}

const float *hush_model_cparams(const hush_model *m)
{
    return m->p;
}

static float dot(const float *a, const float *b, size_t n)
{
    float s = 0;
    for (size_t i = 0; i < n; i++) {
        s += a[i] * b[i];
    }
    return s;
}

/* softmax in place; returns log of the normalizer (for the loss) */
static double softmax(float *z, size_t n)
{
    float mx = z[0];
    for (size_t i = 1; i < n; i++) {
        mx = z[i] > mx ? z[i] : mx;
    }
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        z[i] = expf(z[i] - mx);
        sum += z[i];
    }
    for (size_t i = 0; i < n; i++) {
        z[i] = (float)(z[i] / sum);
    }
    return log(sum >= 1.0 ? sum : 1.0) + mx; /* the largest term is exp(0): sum >= 1 */
}

/*
 * One example: forward pass into the scratch, the loss, and (if `acc` is not
 * NULL) its gradient added to acc.  Scratch layout: a[hidden] (pre), h[hidden],
 * dh[hidden], o[outs], probs[classes].
 */
static double example(hush_model *m, const float *x, uint32_t y, float *acc)
{
    const hush_model_spec *s = &m->spec;
    const size_t in = s->inputs, c = s->classes, hd = s->hidden;
    float *a = m->act, *h = a + hd, *dh = h + hd, *o = dh + hd;
    const float *p = m->p;
    if (s->kind == HUSH_MODEL_LOGISTIC) {
        float z = dot(p, x, in) + p[in];
        /* log-loss, stable: -log sigmoid(z) for y = 1, -log(1 - sigmoid) for 0 */
        double loss = y == 1 ? log1p(exp(-fabs((double)z))) + (z < 0 ? -(double)z : 0)
                             : log1p(exp(-fabs((double)z))) + (z > 0 ? (double)z : 0);
        if (acc != NULL) {
            float pr = 1.0f / (1.0f + expf(-z));
            float dz = pr - (float)y;
            for (size_t i = 0; i < in; i++) {
                acc[i] += dz * x[i];
            }
            acc[in] += dz;
        }
        return loss;
    }
    const float *w_out = p, *b_out = p + c * in;
    const float *in_vec = x;
    size_t in_n = in;
    if (s->kind == HUSH_MODEL_MLP) {
        const float *w1 = p, *b1 = p + hd * in;
        for (size_t j = 0; j < hd; j++) {
            a[j] = dot(w1 + j * in, x, in) + b1[j];
            h[j] = a[j] > 0 ? a[j] : 0;
        }
        w_out = p + m->head;
        b_out = w_out + c * hd;
        in_vec = h;
        in_n = hd;
    }
    for (size_t k = 0; k < c; k++) {
        o[k] = dot(w_out + k * in_n, in_vec, in_n) + b_out[k];
    }
    float zy = o[y];
    double lse = softmax(o, c);
    double loss = lse - zy;
    if (acc != NULL) {
        float *g_out = acc + (s->kind == HUSH_MODEL_MLP ? m->head : 0);
        float *g_b = g_out + c * in_n;
        if (s->kind == HUSH_MODEL_MLP) {
            memset(dh, 0, hd * sizeof *dh);
        }
        for (size_t k = 0; k < c; k++) {
            float d = o[k] - (k == y ? 1.0f : 0.0f);
            float *gw = g_out + k * in_n;
            const float *wk = w_out + k * in_n;
            for (size_t i = 0; i < in_n; i++) {
                gw[i] += d * in_vec[i];
            }
            g_b[k] += d;
            if (s->kind == HUSH_MODEL_MLP) {
                for (size_t j = 0; j < hd; j++) {
                    dh[j] += d * wk[j];
                }
            }
        }
        if (s->kind == HUSH_MODEL_MLP) {
            float *g1 = acc, *gb1 = acc + hd * in;
            for (size_t j = 0; j < hd; j++) {
                if (a[j] <= 0) {
                    continue;
                }
                float d = dh[j];
                float *gw = g1 + j * in;
                for (size_t i = 0; i < in; i++) {
                    gw[i] += d * x[i];
                }
                gb1[j] += d;
            }
        }
    }
    return loss;
}

int hush_model_hidden(const hush_model *m, const float *x, float *h)
{
    const hush_model_spec *s = &m->spec;
    if (s->kind != HUSH_MODEL_MLP) {
        return HUSH_EINVAL;
    }
    const float *w1 = m->p, *b1 = m->p + (size_t)s->hidden * s->inputs;
    for (size_t j = 0; j < s->hidden; j++) {
        float a = dot(w1 + j * s->inputs, x, s->inputs) + b1[j];
        h[j] = a > 0 ? a : 0;
    }
    return 0;
}

void hush_model_predict(hush_model *m, const float *x, float *probs)
{
    const hush_model_spec *s = &m->spec;
    if (s->kind == HUSH_MODEL_LOGISTIC) {
        float z = dot(m->p, x, s->inputs) + m->p[s->inputs];
        float p1 = 1.0f / (1.0f + expf(-z));
        probs[0] = 1 - p1;
        probs[1] = p1;
        return;
    }
    (void)example(m, x, 0, NULL);
    const float *o = m->act + 3 * (size_t)s->hidden;
    memcpy(probs, o, s->classes * sizeof *probs);
}

double hush_model_loss_grad(hush_model *m, const float *x, const uint32_t *y, size_t n,
                            float *grad)
{
    if (grad != NULL) {
        memset(grad, 0, m->n * sizeof *grad);
    }
    double loss = 0;
    for (size_t i = 0; i < n; i++) {
        loss += example(m, x + i * m->spec.inputs, y[i], grad);
    }
    if (n > 0) {
        loss /= (double)n;
        for (size_t k = 0; grad != NULL && k < m->n; k++) {
            grad[k] /= (float)n;
        }
    }
    return loss;
}

double hush_model_accuracy(hush_model *m, const float *x, const uint32_t *y, size_t n)
{
    if (n == 0) {
        return NAN;
    }
    size_t right = 0;
    float probs[1024];
    for (size_t i = 0; i < n; i++) {
        hush_model_predict(m, x + i * m->spec.inputs, probs);
        uint32_t best = 0;
        for (uint32_t k = 1; k < m->spec.classes; k++) {
            best = probs[k] > probs[best] ? k : best;
        }
        right += best == y[i];
    }
    return (double)right / (double)n;
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int hush_model_train(hush_model *m, const float *x, const uint32_t *y, size_t n,
                     const hush_train_options *options, hush_rng *rng, uint32_t *steps,
                     hush_err *err)
{
    hush_train_options o = options != NULL ? *options : (hush_train_options){0};
    o.epochs = o.epochs ? o.epochs : 1;
    o.batch = o.batch ? o.batch : 16;
    o.lr = o.lr > 0 ? o.lr : 0.1f;
    if (steps != NULL) {
        *steps = 0;
    }
    if (n == 0) {
        return hush_err_set(err, HUSH_EINVAL, "training needs at least one example");
    }
    if (!isfinite(o.lr) || !(o.l2 >= 0) || !isfinite(o.l2) ||
        (o.prox != NULL && (!(o.prox_mu >= 0) || !isfinite(o.prox_mu)))) {
        return hush_err_set(err, HUSH_ERANGE,
                            "training needs a finite lr, l2 >= 0 and a proximal "
                            "strength >= 0");
    }
    for (size_t i = 0; i < n; i++) {
        if (y[i] >= m->spec.classes) {
            return hush_err_set(err, HUSH_EINVAL,
                                "example %zu has label %u of %u classes", i, y[i],
                                m->spec.classes);
        }
    }
    size_t *order = hush_malloc(n * sizeof *order);
    if (order == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory for %zu examples", n);
    }
    for (size_t i = 0; i < n; i++) {
        order[i] = i;
    }
    size_t from = o.head_only ? m->head : 0;
    double t0 = o.max_seconds > 0 ? seconds() : 0;
    uint32_t taken = 0;
    bool stop = false;
    for (uint32_t e = 0; e < o.epochs && !stop; e++) {
        for (size_t i = n; i > 1; i--) {
            size_t j = (size_t)hush_rng_uniform(rng, i);
            size_t t = order[i - 1];
            order[i - 1] = order[j];
            order[j] = t;
        }
        for (size_t b = 0; b < n && !stop; b += o.batch) {
            size_t nb = n - b < o.batch ? n - b : o.batch;
            memset(m->grad, 0, m->n * sizeof *m->grad);
            for (size_t k = 0; k < nb; k++) {
                size_t i = order[b + k];
                (void)example(m, x + i * m->spec.inputs, y[i], m->grad);
            }
            float scale = 1.0f / (float)nb;
            if (o.prox != NULL) {
                /* The proximal pull mu/2 |p - prox|^2 is taken implicitly
                 * (a proximal step): p <- (p - lr g + lr mu prox) / (1 + lr
                 * mu), the minimizer of the pull plus the distance to the
                 * gradient step.  It contracts toward prox for any lr mu;
                 * the explicit step p -= lr mu (p - prox) overshoots and
                 * diverges once lr mu > 2 (Ditto at lambda 1, lr 3 wrote a
                 * model of NaN). */
                const float inv = 1.0f / (1.0f + o.lr * o.prox_mu);
                for (size_t k = from; k < m->n; k++) {
                    float g = m->grad[k] * scale + o.l2 * m->p[k];
                    m->p[k] = (m->p[k] - o.lr * g + o.lr * o.prox_mu * o.prox[k]) * inv;
                }
            } else {
                for (size_t k = from; k < m->n; k++) {
                    float g = m->grad[k] * scale + o.l2 * m->p[k];
                    m->p[k] -= o.lr * g;
                }
            }
            taken++;
            stop = (o.max_steps > 0 && taken >= o.max_steps) ||
                   (o.max_seconds > 0 && seconds() - t0 >= o.max_seconds);
        }
    }
    hush_free(order);
    if (steps != NULL) {
        *steps = taken;
    }
    return 0;
}
