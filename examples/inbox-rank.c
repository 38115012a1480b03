/*
 * inbox-rank.c - an inbox ordered by what this user treats as unwanted,
 * learned without tracking anyone: an example an app developer can copy.
 *
 *   inbox-rank URL KEY STATE TASK MAILBOX
 *
 * URL is the collector, KEY its signing key (base64), STATE the app's
 * private state directory, TASK a model task whose labels include "junk"
 * and which personalizes (Ditto, or FedPer on an MLP).  MAILBOX is what
 * the app already knows, one message per line:
 *
 *   keep<TAB>text     the user read or kept it
 *   junk<TAB>text     the user moved it to junk or deleted it unread
 *   new<TAB>text      unread: to be ranked
 *
 * One run is one session of the app when the device may do background
 * work (charging, idle, on Wi-Fi):
 *   1. fetch the task's model and check it is signed by the pinned key;
 *   2. take part in the round if this device is in its sample (decided on
 *      the device; the update is clipped and charged to the device's
 *      privacy budget before it leaves; it carries no identifier);
 *   3. train the personal model on the user's own labels, sampled or not:
 *      it stays in STATE and nothing about it leaves the device;
 *   4. print the new messages, most wanted first: "P(junk)<TAB>text".
 *
 * What leaves the device: the clipped (and, on a DP task, noised at the
 * collector) update of the shared model, at most once a round. The
 * mailbox, the labels, the personal model and the ranking never do.
 */
#include <hush_device.h>
#include <hush_protocol.h>
#include <hush_transport.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct message {
    char *text;
    float junk; /* P(junk) from the device's own model */
} message;

static int by_junk(const void *a, const void *b)
{
    float x = ((const message *)a)->junk, y = ((const message *)b)->junk;
    return (x > y) - (x < y);
}

/* The index of `name` among the task's labels, or -1. */
static int label_of(const hush_fl_model *model, const char *name)
{
    size_t n = 0;
    const char *const *labels = hush_fl_model_labels(model, &n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(labels[i], name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* Reads the mailbox: labelled lines become training examples, "new" lines
 * are kept in `inbox` for ranking.  Returns 0 or an error code. */
static int read_mailbox(const char *path, hush_agent *agent, const hush_fl_model *model,
                        message **inbox, size_t *n_inbox, hush_err *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return hush_err_set(err, HUSH_EIO, "cannot read %s", path);
    }
    int keep = label_of(model, "keep"), junk = label_of(model, "junk");
    char *line = NULL;
    size_t cap = 0, room = 0;
    ssize_t got;
    int rc = 0;
    while (rc == 0 && (got = getline(&line, &cap, f)) > 0) {
        line[strcspn(line, "\n")] = '\0';
        char *text = strchr(line, '\t');
        if (text == NULL || text[1] == '\0') {
            continue;
        }
        *text++ = '\0';
        if (strcmp(line, "new") == 0) {
            if (*n_inbox == room) {
                room = room ? 2 * room : 64;
                message *m = realloc(*inbox, room * sizeof *m);
                if (m == NULL) {
                    rc = hush_err_set(err, HUSH_ENOMEM, "out of memory");
                    break;
                }
                *inbox = m;
            }
            (*inbox)[(*n_inbox)++] = (message){.text = strdup(text)};
        } else if (strcmp(line, "keep") == 0 || strcmp(line, "junk") == 0) {
            int label = line[0] == 'k' ? keep : junk;
            if (label < 0) {
                rc = hush_err_set(err, HUSH_EINVAL, "the task has no label \"%s\"", line);
            } else {
                rc = hush_agent_add_example(agent, text, strlen(text), (uint32_t)label,
                                            err);
            }
        }
    }
    free(line);
    fclose(f);
    return rc;
}

/* Steps 2 and 3: the round's update if this device is sampled, then the
 * personal model.  Returns 0 or an error code. */
static int learn(hush_agent *agent, const hush_fl_model *model, hush_transport *http,
                 const char *task, hush_err *err)
{
    char *update = NULL, *response = NULL;
    size_t len = 0;
    int rc = hush_agent_train_round(agent, model, NULL, &update, &len, err);
    if (rc == 0) {
        /* charged: from here on, only resend these exact bytes */
        char path[200];
        long status = 0;
        snprintf(path, sizeof path, "/v1/models/%s/updates", task);
        rc = hush_transport_post(http, path, update, len, &status, &response, err);
        if (rc == 0 && status != 200) {
            rc = hush_err_set(err, HUSH_EIO, "POST %s: HTTP %ld %s", path, status,
                              response != NULL ? response : "");
        }
        if (rc == 0) {
            fprintf(stderr, "inbox-rank: sent this round's update\n");
        }
    } else if (rc == HUSH_ENOTFOUND || rc == HUSH_EBUDGET || rc == HUSH_ESTATE) {
        fprintf(stderr, "inbox-rank: no update this time (%s)\n", err->msg);
        rc = 0; /* not sampled, already sent, or nothing to learn from */
    }
    hush_free(update);
    hush_free(response);
    if (rc == 0) {
        hush_err_clear(err);
        rc = hush_agent_train_personal(agent, model, NULL, err);
        if (rc == HUSH_ESTATE) {
            rc = 0; /* no labelled mail yet: the shared model ranks */
        }
    }
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s URL KEY STATE TASK MAILBOX\n", argv[0]);
        return 2;
    }
    const char *url = argv[1], *key_b64 = argv[2], *state = argv[3], *task = argv[4];
    if (hush_global_init() != 0) {
        return 1;
    }
    hush_err err = {0};
    hush_agent_config cfg = {.state_dir = state};
    size_t key_len = 0;
    if (hush_b64_decode(key_b64, strlen(key_b64), cfg.collector_key, 32, &key_len) != 0 ||
        key_len != 32) {
        fprintf(stderr, "the signing key must be 32 bytes of base64\n");
        return 2;
    }
    hush_agent *agent = NULL;
    hush_transport *http = NULL;
    hush_fl_model *model = NULL;
    message *inbox = NULL;
    size_t n_inbox = 0, body_len = 0;
    char *body = NULL, *signature = NULL, path[200];
    long status = 0;
    int rc = hush_agent_open(&cfg, &agent, &err);
    if (rc == 0) {
        rc = hush_transport_new(url, NULL, &http, &err);
    }
    snprintf(path, sizeof path, "/v1/models/%s", task);
    if (rc == 0) {
        rc = hush_transport_get(http, path, &status, &body, &body_len, &signature, &err);
    }
    if (rc == 0 && status != 200) {
        rc = hush_err_set(&err, HUSH_EIO, "GET %s: HTTP %ld", path, status);
    }
    if (rc == 0) { /* signed by the pinned key, this task, not stale */
        rc =
            hush_agent_accept_model(agent, task, body, body_len, signature, &model, &err);
    }
    int junk = model != NULL ? label_of(model, "junk") : -1;
    if (rc == 0 && junk < 0) {
        rc = hush_err_set(&err, HUSH_EINVAL, "task %s has no \"junk\" label", task);
    }
    if (rc == 0) {
        rc = read_mailbox(argv[5], agent, model, &inbox, &n_inbox, &err);
    }
    if (rc == 0) {
        rc = learn(agent, model, http, task, &err);
    }
    for (size_t i = 0; rc == 0 && i < n_inbox; i++) {
        float probs[1024];
        rc = hush_agent_predict(agent, model, inbox[i].text, strlen(inbox[i].text), probs,
                                sizeof probs / sizeof probs[0], &err);
        inbox[i].junk = rc == 0 ? probs[junk] : 0;
    }
    if (rc == 0) {
        qsort(inbox, n_inbox, sizeof *inbox, by_junk);
        for (size_t i = 0; i < n_inbox; i++) {
            printf("%.4f\t%s\n", (double)inbox[i].junk, inbox[i].text);
        }
    } else {
        fprintf(stderr, "inbox-rank: %s: %s\n", hush_strerror(rc), err.msg);
    }
    for (size_t i = 0; i < n_inbox; i++) {
        free(inbox[i].text);
    }
    free(inbox);
    hush_free(body);
    hush_free(signature);
    hush_fl_model_free(model);
    hush_transport_free(http);
    hush_agent_close(agent);
    return rc == 0 ? 0 : 1;
}
