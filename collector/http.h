/*
 * http.h - the HTTP server's life, as the process (server.c) sees it.
 * Nothing here names libmicrohttpd: only http.c and the API handlers
 * (api.h) do.
 */
#ifndef HUSH_COLLECTOR_HTTP_H
#define HUSH_COLLECTOR_HTTP_H

#include "domain.h"

/* Listens and serves (cfg.listen, cfg.port; h->port is the port bound). */
int hush__http_start(hush_collector *h, hush_err *err);
/* Closes every connection and stops; safe when never started. */
void hush__http_stop(hush_collector *h);
/* Stops taking connections (false: no server); how many are open. */
bool hush__http_quiesce(hush_collector *h);
unsigned hush__http_connections(hush_collector *h);

#endif
