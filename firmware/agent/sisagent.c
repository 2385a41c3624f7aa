/*
 * sisagent: the in-guest end of sisctl's console protocol.
 *
 * Runs on the serial console in raw mode. Every protocol line starts with
 * "@@SIS " so the host can pick it out of kernel log lines that share the
 * console. Host requests (one line each):
 *
 *   @@SIS PING <id>                        -> @@SIS PONG <id>
 *   @@SIS CLOCK <id> <sec> <nsec>          -> @@SIS CLOCK <id> <errno, 0 if set>
 *   @@SIS RUN <id> <timeout_s> <b64 cmd>   -> result frame (below)
 *   @@SIS RESEND <id>                      -> last result frame again
 *   @@SIS SHELL <id>                       -> interactive sh; READY on exit
 *
 * A result frame is data lines then an end line, each ending in the CRC-32
 * (hex) of everything before its last space:
 *
 *   @@SIS D <id> <O|E> <seq> <b64 chunk> <crc>
 *   @@SIS END <id> <exit|signal|timeout> <code> <nO> <nE> <bytesO> <bytesE> <crc>
 *
 * bytesO/bytesE count what the command printed; a stream past OUTPUT_CAP is
 * not sent at all, and the host fails the command naming the cap.
 *
 * A kernel message that lands inside a line breaks its CRC; the host then
 * asks for RESEND. Output of any content (binary, marker-like) is carried
 * exactly because it only ever travels base64-encoded.
 *
 * Called with arguments, it runs one of the tools for campaign scripts in the
 * guest instead (tools.c has their table).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "sisagent.h"

#define AGENT_VERSION "1"
#define CHUNK 192                 /* raw bytes per data line */
#define OUTPUT_CAP (16u << 20)    /* per stream kept for the frame (sisctl/board/agent.py: OUTPUT_CAP) */
#define POLL_MAX_MS 60000
#define LINE_MAX_LEN 65536

struct buf { unsigned char *data; size_t len, cap; unsigned long long total; };

static struct buf out_buf, err_buf;
static char last_id[64] = "";
static char last_reason[16] = "";
static int last_code;

static const char B64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = in[i] << 16;
        if (i + 1 < n) v |= in[i + 1] << 8;
        if (i + 2 < n) v |= in[i + 2];
        out[o++] = B64[(v >> 18) & 63];
        out[o++] = B64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? B64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? B64[v & 63] : '=';
    }
    out[o] = 0;
    return o;
}

static int b64_value(char c)
{
    const char *p = c ? strchr(B64, c) : NULL;
    return p ? (int)(p - B64) : -1;
}

/* Decodes in place; returns the decoded length or -1. */
static long b64_decode(char *s)
{
    size_t n = strlen(s), o = 0;
    if (n % 4) return -1;
    for (size_t i = 0; i < n; i += 4) {
        int a = b64_value(s[i]), b = b64_value(s[i + 1]);
        int c = s[i + 2] == '=' ? 0 : b64_value(s[i + 2]);
        int d = s[i + 3] == '=' ? 0 : b64_value(s[i + 3]);
        if (a < 0 || b < 0 || c < 0 || d < 0) return -1;
        uint32_t v = (a << 18) | (b << 12) | (c << 6) | d;
        s[o++] = v >> 16;
        if (s[i + 2] != '=') s[o++] = (v >> 8) & 0xff;
        if (s[i + 3] != '=') s[o++] = v & 0xff;
    }
    s[o] = 0;
    return (long)o;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Emits "<body> <crc>\n" on the console. */
static void send_line(const char *body)
{
    char tail[16];
    snprintf(tail, sizeof tail, " %08x\n", crc32_of(body, strlen(body)));
    /* One write per line keeps kernel messages from splitting it in most cases. */
    size_t n = strlen(body);
    char *line = malloc(n + sizeof tail);
    if (!line) return;
    memcpy(line, body, n);
    strcpy(line + n, tail);
    write_all(STDOUT_FILENO, line, strlen(line));
    free(line);
}

static void set_raw(int on)
{
    static struct termios saved;
    static int have_saved;
    struct termios t;
    if (tcgetattr(STDIN_FILENO, &t) < 0) return;  /* not a tty: fine */
    if (on) {
        if (!have_saved) { saved = t; have_saved = 1; }
        cfmakeraw(&t);
        tcsetattr(STDIN_FILENO, TCSANOW, &t);
    } else if (have_saved) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    }
}

static void clear_output(void)
{
    out_buf.len = err_buf.len = 0;
    out_buf.total = err_buf.total = 0;
}

static void set_result(const char *reason, int code)
{
    strcpy(last_reason, reason);
    last_code = code;
}

static void buf_add(struct buf *b, const unsigned char *p, size_t n)
{
    b->total += n;
    if (b->len + n > OUTPUT_CAP) n = OUTPUT_CAP - b->len;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n) cap *= 2;
        unsigned char *d = realloc(b->data, cap);
        if (!d) return;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

/* Runs `sh -c cmd` with stdin from /dev/null, collecting both streams. */
static void run_command(const char *cmd, double timeout_s)
{
    int po[2], pe[2];
    clear_output();
    if (pipe(po) < 0 || pipe(pe) < 0) {
        set_result("exit", 127);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        signal(SIGPIPE, SIG_DFL);   /* ignored here only: `yes | head` must end as on any shell */
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, STDIN_FILENO);
        dup2(po[1], STDOUT_FILENO);
        dup2(pe[1], STDERR_FILENO);
        close(po[0]); close(pe[0]); close(po[1]); close(pe[1]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    struct buf *bufs[2] = {&out_buf, &err_buf};
    int open_fds = 2, timed_out = 0;
    double deadline = timeout_s > 0 ? mono_ns() / 1e9 + timeout_s : 0;
    unsigned char tmp[65536];
    while (open_fds) {
        int wait_ms = -1;
        if (deadline) {
            double left = deadline - mono_ns() / 1e9;
            if (left <= 0) {
                kill(-pid, SIGKILL);
                timed_out = 1;
                break;
            }
            wait_ms = left * 1000 < POLL_MAX_MS ? (int)(left * 1000) + 1 : POLL_MAX_MS;
        }
        int r = poll(fds, 2, wait_ms);
        if (r < 0 && errno != EINTR) break;
        for (int i = 0; i < 2 && r > 0; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(fds[i].fd, tmp, sizeof tmp);
            if (n > 0) {
                buf_add(bufs[i], tmp, (size_t)n);
            } else if (n == 0 || errno != EINTR) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0) close(fds[i].fd);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (timed_out)
        set_result("timeout", -1);
    else if (WIFSIGNALED(status))
        set_result("signal", WTERMSIG(status));
    else
        set_result("exit", WEXITSTATUS(status));
}

static size_t send_stream(const char *id, char tag, const struct buf *b)
{
    char enc[CHUNK / 3 * 4 + 8];
    char body[sizeof enc + 128];
    size_t seq = 0;
    if (b->total > OUTPUT_CAP)    /* cut: the host fails the command, so send none of it */
        return 0;
    for (size_t off = 0; off < b->len; off += CHUNK, seq++) {
        size_t n = b->len - off < CHUNK ? b->len - off : CHUNK;
        b64_encode(b->data + off, n, enc);
        snprintf(body, sizeof body, "@@SIS D %s %c %zu %s", id, tag, seq, enc);
        send_line(body);
    }
    return seq;
}

static void send_result(void)
{
    char body[256];
    size_t n_out = send_stream(last_id, 'O', &out_buf);
    size_t n_err = send_stream(last_id, 'E', &err_buf);
    snprintf(body, sizeof body, "@@SIS END %s %s %d %zu %zu %llu %llu",
             last_id, last_reason, last_code, n_out, n_err, out_buf.total, err_buf.total);
    send_line(body);
}

static void announce_ready(void)
{
    char body[128];
    snprintf(body, sizeof body, "@@SIS READY %s %d", AGENT_VERSION, (int)getpid());
    send_line(body);
}

/* Requests: each handler gets the id and the strtok_r state of the rest of the line. */

static void on_ping(const char *id, char **save)
{
    char body[160];
    (void)save;
    snprintf(body, sizeof body, "@@SIS PONG %s", id);
    send_line(body);
}

/* The host's wall clock: a guest without an RTC starts in 1970, one restored from a snapshot
 * at the snapshot's time, and file systems stamp what it says. */
static void on_clock(const char *id, char **save)
{
    char body[160];
    char *sec = strtok_r(NULL, " ", save), *nsec = strtok_r(NULL, " ", save), *end1 = NULL, *end2 = NULL;
    struct timespec ts = { .tv_sec = 0, .tv_nsec = 0 };
    if (sec && nsec) {
        errno = 0;
        ts.tv_sec = strtoll(sec, &end1, 10);
        ts.tv_nsec = strtol(nsec, &end2, 10);
    }
    int err = !sec || !nsec || errno || *end1 || *end2 || ts.tv_sec <= 0 || ts.tv_nsec < 0
              || ts.tv_nsec > 999999999 ? EINVAL
              : clock_settime(CLOCK_REALTIME, &ts) ? errno : 0;
    snprintf(body, sizeof body, "@@SIS CLOCK %s %d", id, err);
    send_line(body);
}

static void on_run(const char *id, char **save)
{
    char *timeout = strtok_r(NULL, " ", save);
    char *cmd = strtok_r(NULL, " ", save);
    strcpy(last_id, id);
    if (!timeout || !cmd || b64_decode(cmd) < 0) {
        clear_output();
        set_result("exit", 126);
        buf_add(&err_buf, (const unsigned char *)"sisagent: malformed RUN\n", 24);
    } else {
        run_command(cmd, atof(timeout));
    }
    send_result();
}

static void on_resend(const char *id, char **save)
{
    (void)save;
    if (!strcmp(id, last_id)) send_result();
}

static void on_shell(const char *id, char **save)
{
    (void)id; (void)save;
    set_raw(0);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        execl("/bin/sh", "sh", "-i", (char *)NULL);
        _exit(127);
    }
    while (pid > 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    set_raw(1);
    announce_ready();
}

static const struct request {
    const char *verb;
    void (*handle)(const char *id, char **save);
} requests[] = {
    {"PING", on_ping},
    {"CLOCK", on_clock},
    {"RUN", on_run},
    {"RESEND", on_resend},
    {"SHELL", on_shell},
};

/* "@@SIS VERB ID ...": anything else, or an unknown verb, is ignored. */
static void handle(char *line)
{
    char *save = NULL;
    char *magic = strtok_r(line, " ", &save);
    char *verb = strtok_r(NULL, " ", &save);
    char *id = strtok_r(NULL, " ", &save);
    if (!magic || strcmp(magic, "@@SIS") || !verb || !id || strlen(id) >= sizeof last_id)
        return;
    for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++)
        if (!strcmp(verb, requests[i].verb)) {
            requests[i].handle(id, &save);
            return;
        }
}

int main(int argc, char **argv)
{
    static char line[LINE_MAX_LEN];
    size_t len = 0;
    if (argc > 1)
        return run_tool(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    set_raw(1);
    announce_ready();
    for (;;) {
        char c;
        ssize_t n = read(STDIN_FILENO, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            /* Console gone: served over SSH (SISAGENT_ONCE), the agent ends with its channel; on the
               console, init's loop would only start it again, so it waits instead. */
            if (getenv("SISAGENT_ONCE")) return 0;
            sleep(1);
            continue;
        }
        if (c == '\n' || c == '\r') {
            line[len] = 0;
            if (len) handle(line);
            len = 0;
        } else if (len + 1 < sizeof line) {
            line[len++] = c;
        } else {
            len = 0;  /* overlong line: drop it */
        }
    }
}
