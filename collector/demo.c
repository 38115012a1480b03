/*
 * demo.c - hushd --demo: a poll to look at on a first start, with reports
 * from simulated devices so that its estimates, and the dashboard's chart
 * of them, show something.
 *
 * The devices are simulated here, in the collector, with the mechanism the
 * real device library runs (hush_ldp_encode) and a seeded generator: 20,000
 * devices, each holding one favourite from a Zipf distribution (s = 1.1)
 * over the twelve candidates, each sending one randomized report at the
 * campaign's epsilon.  Their batches take the path every posted batch takes
 * (hush__batch_accept, the writer, the store), so the estimates are
 * computed as for real reports.  Nothing here is anyone's data, and the
 * log says so.
 */
#include <math.h>

#include "domain.h"
#include "hush_privacy.h"
#include "hush_protocol.h"

#define DEMO_DEVICES 20000
#define DEMO_BATCH 1000
#define DEMO_SEED 2017

/* A submitted batch's answer, waited for here. */
struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
};

static void answered(hush__item *item)
{
    struct waiter *w = item->waiter;
    pthread_mutex_lock(&w->lock);
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* One batch through the ingest path; its HTTP status (200: counted). */
static int post(hush_collector *h, json_t *doc, hush_err *err)
{
    hush__item *item = NULL;
    hush__fail f = {0};
    if (hush__batch_accept(h, doc, &item, &f) != 0) {
        return hush_err_set(err, HUSH_EIO, "demo reports: %s", f.err.msg);
    }
    struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
    item->answer = answered;
    item->waiter = &w;
    hush__batch_submit(h, item);
    pthread_mutex_lock(&w.lock);
    while (!w.done) {
        pthread_cond_wait(&w.cond, &w.lock);
    }
    pthread_mutex_unlock(&w.lock);
    int status = item->status;
    hush__item_free(item);
    return status == 200 ? 0
                         : hush_err_set(err, HUSH_EIO, "demo reports: HTTP %d", status);
}

/* A favourite drawn from Zipf(s) over d items, by inversion. */
static uint32_t zipf(hush_rng *rng, const double *cdf, uint32_t d)
{
    double u = hush_rng_unit(rng);
    uint32_t i = 0;
    while (i + 1 < d && u > cdf[i]) {
        i++;
    }
    return i;
}

static int simulate(hush_collector *h, hush__campaign *c, hush_err *err)
{
    const hush_publication *pub = c->cur->pub;
    uint32_t d = (uint32_t)pub->n_candidates;
    double cdf[32], total = 0;
    if (d == 0 || d > 32) {
        return hush_err_set(err, HUSH_EINVAL, "demo: %u candidates", d);
    }
    for (uint32_t i = 0; i < d; i++) {
        total += pow(i + 1.0, -1.1);
        cdf[i] = total;
    }
    for (uint32_t i = 0; i < d; i++) {
        cdf[i] /= total;
    }
    hush_ldp *m = NULL;
    hush_rng *rng = NULL;
    int rc = hush_ldp_new(&pub->params, &m, err);
    if (rc == 0) {
        rc = hush_rng_new_seeded_u64(DEMO_SEED, &rng);
    }
    size_t size = m != NULL ? hush_ldp_report_size(m) : 0;
    uint8_t *reports = rc == 0 ? hush_malloc(DEMO_BATCH * size) : NULL;
    if (rc == 0 && reports == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    for (unsigned b = 0; rc == 0 && b < DEMO_DEVICES / DEMO_BATCH; b++) {
        for (unsigned k = 0; rc == 0 && k < DEMO_BATCH; k++) {
            rc =
                hush_ldp_encode(m, zipf(rng, cdf, d), rng, reports + k * size, size, err);
        }
        uint8_t id[HUSH_BATCH_ID_BYTES];
        randombytes_buf(id, sizeof id);
        json_t *doc =
            rc == 0 ? hush_batch_build(m, c->id, c->cur->round, id, reports, DEMO_BATCH)
                    : NULL;
        if (rc == 0) {
            rc = doc != NULL ? post(h, doc, err)
                             : hush_err_set(err, HUSH_ENOMEM, "out of memory");
        }
        json_decref(doc);
    }
    hush_free(reports);
    hush_rng_free(rng);
    hush_ldp_free(m);
    return rc;
}

int hush__demo_campaign(hush_collector *h, hush_err *err)
{
    pthread_rwlock_rdlock(&h->campaigns_lock);
    size_t n = h->n_campaigns;
    pthread_rwlock_unlock(&h->campaigns_lock);
    if (n > 0) {
        return 0;
    }
    static const char demo[] =
        "{\"id\":\"demo-emoji\",\"name\":\"Favourite emoji (demo)\",\"kind\":\"poll\","
        "\"candidates\":[\"face with tears of joy\",\"red heart\",\"thumbs up\","
        "\"loudly crying face\",\"folded hands\",\"fire\",\"sparkles\",\"party popper\","
        "\"thinking face\",\"rocket\",\"pizza\",\"rainbow\"],"
        "\"epsilon\":4,\"mechanism\":\"auto\","
        "\"budget\":{\"reports_per_device_per_day\":1,\"epsilon_per_device_per_day\":4},"
        "\"min_reports\":10}";
    json_t *req = json_loads(demo, 0, NULL), *out = NULL;
    hush__fail f = {0};
    int rc = req != NULL ? hush__campaign_create(h, req, &out, &f)
                         : hush__fail_set(&f, HUSH_ENOMEM, "internal", "out of memory");
    json_decref(req);
    json_decref(out);
    if (rc != 0) {
        return hush_err_set(err, HUSH_EIO, "demo campaign: %s", f.err.msg);
    }
    hush__campaign *c = hush__campaign_find(h, "demo-emoji");
    if (c == NULL || (rc = simulate(h, c, err)) != 0) {
        return c == NULL ? hush_err_set(err, HUSH_EINTERNAL, "demo campaign vanished")
                         : rc;
    }
    hush__log(h, "info",
              "demo: %u simulated devices reported to demo-emoji (seeded, made up: no "
              "one's data)",
              (unsigned)DEMO_DEVICES);
    return 0;
}
