/*
 * protocol_internal.h - what the files of protocol/ share.
 */
#ifndef HUSH_PROTOCOL_INTERNAL_H
#define HUSH_PROTOCOL_INTERNAL_H

#include "hush_protocol.h"

/* A campaign or model id: [A-Za-z0-9_-]{1,64}. */
bool hush__valid_id(const char *s);

#endif
