/*
 * learning_internal.h - what the files of learning/ share: the model.
 */
#ifndef HUSH_LEARNING_INTERNAL_H
#define HUSH_LEARNING_INTERNAL_H

#include "hush_learning.h"

struct hush_model {
    hush_model_spec spec;
    size_t n;    /* parameters */
    size_t head; /* first parameter of the output layer (0 for linear models) */
    float *p;    /* parameters */
    float *grad; /* scratch: a minibatch's gradient */
    float *act;  /* scratch: activations of one example */
    size_t n_act;
};

/* A model with zeroed parameters and its scratch: 0 or an error. */
int hush__model_alloc(const hush_model_spec *spec, hush_model **out, hush_err *err);

#endif
