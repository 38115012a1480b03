/*
 * collector_fixture.h - a collector for the domain's unit tests: started
 * on a private in-memory store (sqlite::memory:) with its keys and admin
 * token in a fresh directory, HTTP on a free loopback port; and the
 * helpers the tests share.
 */
#ifndef HUSH_TEST_COLLECTOR_FIXTURE_H
#define HUSH_TEST_COLLECTOR_FIXTURE_H

#include "domain.h"

/* Starts one; dir (room for 64) gets the directory. */
hush_collector *fixture_start(char *dir);
void fixture_stop(hush_collector *h, const char *dir);
/* A suite's .init and .fini: one collector per test, in fixture_h. */
extern hush_collector *fixture_h;
void fixture_init(void);
void fixture_fini(void);
/* A JSON value from text (asserts that it parses). */
json_t *fixture_json(const char *text);
/* Creates a campaign from a spec text; asserts success; its id. */
hush__campaign *fixture_campaign(hush_collector *h, const char *spec);
/* A batch of reports (values as the mechanism's wire form) for the
 * campaign's round, through the domain, waiting for the writer's answer;
 * returns the item's status (200, 409, 503) or -rc when refused, with the
 * refusal in *f. */
int fixture_post(hush_collector *h, const char *batch_json, bool *duplicate,
                 hush__fail *f);

#endif
