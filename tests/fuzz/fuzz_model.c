/*
 * fuzz_model.c - libFuzzer target for the federated learning documents a
 * device or the collector parses: the model file (from a publication or the
 * device's own state directory), a model publication, and an update
 * (float32 or lattice integers).  Properties: no crash, no leak; an
 * accepted model has finite parameters and round-trips byte for byte; an
 * accepted update has the asked length and finite coordinates, or lattice
 * integers with a shift in range.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hush_learning.h"
#include "hush_protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hush_model *m = NULL;
    if (hush_model_deserialize(data, size, &m, NULL) == 0) {
        const float *p = hush_model_cparams(m);
        for (size_t i = 0; i < hush_model_size(m); i++) {
            if (!isfinite(p[i])) {
                abort();
            }
        }
        uint8_t *again = NULL;
        size_t len = 0;
        if (hush_model_serialize(m, &again, &len, NULL) == 0 &&
            (len != size || memcmp(again, data, size) != 0)) {
            abort();
        }
        hush_free(again);
        hush_model_free(m);
    }
    hush_model_pub *pub = NULL;
    if (hush_model_pub_parse((const char *)data, size, &pub, NULL) == 0) {
        if (!(pub->clip > 0) || !(pub->sampling_rate > 0 && pub->sampling_rate <= 1) ||
            hush_model_pub_update_size(pub) == 0) {
            abort();
        }
        hush_model_pub_free(pub);
    }
    hush_model_update u;
    if (hush_model_update_parse((const char *)data, size, 5, &u, NULL) == 0) {
        if (u.n != 5 || (u.update == NULL) == (u.lattice == NULL) ||
            u.shift > HUSH_LATTICE_SHIFT_MAX) {
            abort();
        }
        for (size_t i = 0; u.update != NULL && i < u.n; i++) {
            if (!isfinite(u.update[i])) {
                abort();
            }
        }
        hush_free(u.update);
        hush_free(u.lattice);
    }
    return 0;
}
