/*
 * fuzz_publication.c - libFuzzer target for campaign publications, which a
 * device parses after checking their signature (and the collector parses
 * from its own store).  Properties: no crash, no leak; an accepted
 * publication's parameters build a mechanism and its domain matches its
 * candidates.
 */
#include <stdlib.h>

#include "hush_protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hush_publication *p = NULL;
    if (hush_publication_parse((const char *)data, size, &p, NULL) != 0) {
        return 0;
    }
    hush_ldp *m = NULL;
    if (hush_ldp_new(&p->params, &m, NULL) != 0 ||
        p->params.domain !=
            p->n_candidates + (p->kind == HUSH_CAMPAIGN_SYNTHETIC ? 1 : 0)) {
        abort();
    }
    hush_ldp_free(m);
    /* the device's parse accepts exactly what the full parse accepts */
    hush_publication *d = NULL;
    if (hush_publication_parse_flags((const char *)data, size, HUSH_PUBLICATION_DEVICE,
                                     &d, NULL) != 0 ||
        d->n_candidates != p->n_candidates || d->params.domain != p->params.domain) {
        abort();
    }
    hush_publication_free(d);
    hush_publication_free(p);
    return 0;
}
