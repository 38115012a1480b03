/*
 * external.c - running an external generator (docs/generators.md): any
 * command, run with /bin/sh -c in its own process group, given the parents
 * as JSON lines on stdin and the request in HUSH_* environment variables,
 * answering JSON lines {"text", "parent"?} on stdout within a time limit
 * and an output cap.  What it prints is checked by
 * hush__generator_output_parse_lineage (generate.c); any failure (exit
 * status, signal, time, size, a bad line) is an error that names it, and
 * the process group is killed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "domain.h"

extern char **environ;

/* What of a generator's stderr is kept for the error message. */
#define STDERR_MAX 65536

/* A running generator and our ends of its pipes (-1: closed). */
typedef struct child {
    pid_t pid;
    int in, out, err;
} child;

/* A pipe whose ends other children do not inherit (the generator gets its
 * ends through dup2, which clears the flag). */
static int pipe_cloexec(int p[2])
{
    if (pipe(p) != 0) {
        return -1;
    }
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    return 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* The parents as JSON lines. */
static int render_input(const hush__parent *parents, size_t n, hush__buf *in)
{
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_pack("{s:s, s:s, s:f, s:f}", "id", parents[i].id, "text",
                              parents[i].text, "estimate", parents[i].estimate,
                              "std_error", parents[i].std_error);
        char *line =
            o != NULL ? hush_json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
        json_decref(o);
        if (line == NULL) {
            return HUSH_ENOMEM;
        }
        hush__buf_adds(in, line);
        hush__buf_add(in, "\n", 1);
        hush_free(line);
    }
    return hush__buf_error(in);
}

/* Our environment without HUSH_* variables, plus the request's (vars);
 * a new array of borrowed strings. */
static char **child_env(char vars[4][128])
{
    size_t n_env = 0;
    while (environ[n_env] != NULL) {
        n_env++;
    }
    char **envp = hush_calloc(n_env + 5, sizeof *envp);
    if (envp == NULL) {
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++) {
        if (strncmp(environ[i], "HUSH_", 5) != 0) {
            envp[k++] = environ[i];
        }
    }
    for (int i = 0; i < 4 && vars[i][0] != '\0'; i++) { /* an empty one ends them */
        envp[k++] = vars[i];
    }
    return envp;
}

/* Starts `cmd` in its own process group with its stdin, stdout and stderr
 * on pipes, every signal unblocked. */
static int spawn(const char *cmd, char **envp, child *c, hush_err *err)
{
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    bool fa_ok = posix_spawn_file_actions_init(&fa) == 0;
    bool attr_ok = posix_spawnattr_init(&attr) == 0;
    sigset_t none;
    sigemptyset(&none);
    int rc = 0;
    if (pipe_cloexec(pin) != 0 || pipe_cloexec(pout) != 0 || pipe_cloexec(perr) != 0) {
        rc = hush_err_set(err, HUSH_EIO, "cannot create pipes: %s", strerror(errno));
    } else if (!fa_ok || !attr_ok ||
               posix_spawn_file_actions_adddup2(&fa, pin[0], 0) != 0 ||
               posix_spawn_file_actions_adddup2(&fa, pout[1], 1) != 0 ||
               posix_spawn_file_actions_adddup2(&fa, perr[1], 2) != 0 ||
               posix_spawnattr_setpgroup(&attr, 0) != 0 ||
               posix_spawnattr_setsigmask(&attr, &none) != 0 ||
               posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
                                                   POSIX_SPAWN_SETSIGMASK) != 0) {
        rc = hush_err_set(err, HUSH_EIO, "cannot set up the generator process");
    } else {
        char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
        int sp = posix_spawn(&c->pid, "/bin/sh", &fa, &attr, argv, envp);
        if (sp != 0) {
            c->pid = -1;
            rc = hush_err_set(err, HUSH_EIO, "cannot start the generator: %s",
                              strerror(sp));
        }
    }
    if (fa_ok) {
        posix_spawn_file_actions_destroy(&fa);
    }
    if (attr_ok) {
        posix_spawnattr_destroy(&attr);
    }
    /* the child's ends are its own now (or nobody's) */
    close_fd(&pin[0]);
    close_fd(&pout[1]);
    close_fd(&perr[1]);
    c->in = pin[1];
    c->out = pout[0];
    c->err = perr[0];
    if (rc != 0) {
        close_fd(&c->in);
        close_fd(&c->out);
        close_fd(&c->err);
        return rc;
    }
    fcntl(c->in, F_SETFL, O_NONBLOCK);
    return 0;
}

/* One read from a pipe into b; stdout past its cap stops everything
 * (*too_much), stderr past STDERR_MAX is dropped. */
static void drain(int *fd, hush__buf *b, bool is_stdout, bool *too_much)
{
    char chunk[16384];
    ssize_t r = read(*fd, chunk, sizeof chunk);
    if (r > 0) {
        if (!is_stdout && b->len + (size_t)r > STDERR_MAX) {
            return;
        }
        if (hush__buf_add(b, chunk, (size_t)r) != 0) {
            *too_much = true;
        }
    } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        close_fd(fd);
    }
}

/* Writes `in` to the child and reads its stdout and stderr until both
 * close, the deadline passes (*timed_out) or stdout passes its cap
 * (*too_much). */
static void exchange(child *c, const hush__buf *in, double deadline, hush__buf *o,
                     hush__buf *e, bool *timed_out, bool *too_much)
{
    size_t written = 0;
    while ((c->out >= 0 || c->err >= 0) && !*too_much) {
        struct pollfd fds[3];
        int nf = 0, iin = -1, iout = -1, ierr = -1;
        if (c->in >= 0) {
            fds[nf] = (struct pollfd){.fd = c->in, .events = POLLOUT};
            iin = nf++;
        }
        if (c->out >= 0) {
            fds[nf] = (struct pollfd){.fd = c->out, .events = POLLIN};
            iout = nf++;
        }
        if (c->err >= 0) {
            fds[nf] = (struct pollfd){.fd = c->err, .events = POLLIN};
            ierr = nf++;
        }
        double left = deadline - hush__now();
        if (left <= 0) {
            *timed_out = true;
            return;
        }
        int pr = poll(fds, (nfds_t)nf, (int)(left * 1000) + 1);
        if (pr < 0 && errno != EINTR) {
            return;
        }
        if (pr <= 0) {
            continue;
        }
        if (iin >= 0 && fds[iin].revents != 0) {
            ssize_t w = write(c->in, in->data + written, in->len - written);
            if (w > 0) {
                written += (size_t)w;
            }
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == in->len) {
                close_fd(&c->in); /* done, or the generator stopped reading */
            }
        }
        if (iout >= 0 && fds[iout].revents != 0) {
            drain(&c->out, o, true, too_much);
        }
        if (ierr >= 0 && fds[ierr].revents != 0 && !*too_much) {
            drain(&c->err, e, false, too_much);
        }
    }
}

/* What stderr said, for the error message: its last line, printable. */
static void stderr_tail(const hush__buf *e, char *dst, size_t cap)
{
    dst[0] = '\0';
    if (e->len == 0) {
        return;
    }
    size_t end = e->len;
    while (end > 0 && (e->data[end - 1] == '\n' || e->data[end - 1] == '\r')) {
        end--;
    }
    size_t start = end;
    while (start > 0 && e->data[start - 1] != '\n' && end - start < cap - 8) {
        start--;
    }
    size_t o = (size_t)snprintf(dst, cap, "; stderr: ");
    for (size_t i = start; i < end && o + 1 < cap; i++) {
        unsigned char ch = (unsigned char)e->data[i];
        dst[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    dst[o] = '\0';
}

/* How the run ended, as an error (0: it exited with status 0). */
static int outcome(int status, bool timed_out, bool too_much, unsigned timeout_s,
                   size_t max_output, const hush__buf *e, hush_err *err)
{
    char tail[200];
    stderr_tail(e, tail, sizeof tail);
    if (timed_out) {
        return hush_err_set(err, HUSH_EIO, "the generator did not finish within %u s%s",
                            timeout_s, tail);
    }
    if (too_much) {
        return hush_err_set(err, HUSH_ETOOBIG,
                            "the generator printed more than %zu bytes", max_output);
    }
    if (WIFSIGNALED(status)) {
        return hush_err_set(err, HUSH_EIO, "the generator was killed by signal %d%s",
                            WTERMSIG(status), tail);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return hush_err_set(err, HUSH_EIO, "the generator exited with status %d%s",
                            WEXITSTATUS(status), tail);
    }
    return 0;
}

/* Runs the generator to its end, o and e filling with what it prints;
 * 0 if it exited with status 0 in time and within the cap. */
static int run(const char *cmd, char **envp, const hush__buf *in, unsigned timeout_s,
               size_t max_output, hush__buf *o, hush__buf *e, hush_err *err)
{
    child c = {-1, -1, -1, -1};
    int rc = spawn(cmd, envp, &c, err);
    if (rc != 0) {
        return rc;
    }
    /* A generator that stops reading must not kill hushd with SIGPIPE:
     * block it in this thread, and take any pending one before returning. */
    sigset_t pipe_set, old_mask;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
    bool timed_out = false, too_much = false;
    exchange(&c, in, hush__now() + timeout_s, o, e, &timed_out, &too_much);
    if (timed_out || too_much) {
        kill(-c.pid, SIGKILL);
    }
    int status = 0;
    while (waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
    }
    struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_set, NULL, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    close_fd(&c.in);
    close_fd(&c.out);
    close_fd(&c.err);
    return outcome(status, timed_out, too_much, timeout_s, max_output, e, err);
}

int hush__generate_external_lineage(const char *cmd, unsigned timeout_s,
                                    size_t max_output, const hush__parent *parents,
                                    size_t n, size_t want, const char *campaign,
                                    uint32_t round, uint64_t seed, size_t max_bytes,
                                    char ***out, size_t *n_out, size_t *parent_of,
                                    hush_err *err)
{
    if (cmd == NULL || cmd[0] == '\0') {
        return hush_err_set(
            err, HUSH_EINVAL,
            "no external generator is configured (hushd --generator-cmd)");
    }
    hush__buf in, o, e;
    hush__buf_init(&in, SIZE_MAX - 1);
    hush__buf_init(&o, max_output);
    hush__buf_init(&e, STDERR_MAX);
    char vars[4][128];
    snprintf(vars[0], sizeof vars[0], "HUSH_CAMPAIGN=%s", campaign);
    snprintf(vars[1], sizeof vars[1], "HUSH_ROUND=%u", round);
    snprintf(vars[2], sizeof vars[2], "HUSH_WANT=%zu", want);
    snprintf(vars[3], sizeof vars[3], "HUSH_SEED=%llu", (unsigned long long)seed);
    char **envp = child_env(vars);
    int rc = envp == NULL || render_input(parents, n, &in) != 0
                 ? hush_err_set(err, HUSH_ENOMEM, "out of memory")
                 : run(cmd, envp, &in, timeout_s, max_output, &o, &e, err);
    if (rc == 0) {
        rc = hush__generator_output_parse_lineage(o.data != NULL ? o.data : "", o.len,
                                                  want, max_bytes, parents, n, out, n_out,
                                                  parent_of, err);
    }
    hush_free(envp);
    hush__buf_free(&in);
    hush__buf_free(&o);
    hush__buf_free(&e);
    return rc;
}

int hush__generate_external(const char *cmd, unsigned timeout_s, size_t max_output,
                            const hush__parent *parents, size_t n, size_t want,
                            const char *campaign, uint32_t round, uint64_t seed,
                            size_t max_bytes, char ***out, size_t *n_out, hush_err *err)
{
    return hush__generate_external_lineage(cmd, timeout_s, max_output, parents, n, want,
                                           campaign, round, seed, max_bytes, out, n_out,
                                           NULL, err);
}

int hush__external_run(const char *cmd, const char *input, size_t len, unsigned timeout_s,
                       size_t max_output, char **out, size_t *out_len, hush_err *err)
{
    hush__buf in, o, e;
    hush__buf_init(&in, SIZE_MAX - 1);
    hush__buf_init(&o, max_output);
    hush__buf_init(&e, STDERR_MAX);
    char vars[4][128] = {"HUSH_CHECK=token-attestation", "", "", ""};
    char **envp = child_env(vars);
    int rc = envp == NULL || hush__buf_add(&in, input, len) != 0
                 ? hush_err_set(err, HUSH_ENOMEM, "out of memory")
                 : run(cmd, envp, &in, timeout_s, max_output, &o, &e, err);
    *out = rc == 0 ? hush__buf_take(&o, out_len) : NULL;
    if (rc == 0 && *out == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    hush_free(envp);
    hush__buf_free(&in);
    hush__buf_free(&o);
    hush__buf_free(&e);
    return rc;
}
