/*
 * data-recv PORT FILE TIMEOUT_S TOKEN and data-send PORT FILE TIMEOUT_S TOKEN: one file over TCP,
 * the data link of a board with a network (sisctl/board/datalink.py); the console stays the
 * control path.
 *
 * The tool listens on PORT and takes the first connection that sends a whole header: "SISDATA1"
 * and TOKEN (16 characters the host sent on the console, so no other program on the network
 * gives or takes the file), then for data-recv the length (u64, little endian) and the bytes, which go to FILE; data-send
 * answers the header with the length of FILE and its bytes. A connection that closes before its
 * header is dropped (the host's forwarder may connect before the guest listens). Both print
 * "data BYTES CRC32" (as `crc FILE` does) and data-recv sends the same line back before it
 * closes. No connection within TIMEOUT_S fails (exit 3).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "sisagent.h"

#define MAGIC "SISDATA1"

static int full_read(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

static int full_write(int fd, const void *buf, size_t n)
{
    size_t put = 0;
    while (put < n) {
        ssize_t w = write(fd, (const char *)buf + put, n - put);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        put += (size_t)w;
    }
    return 0;
}

/* The first connection on PORT that sends the magic and `token`, or -1 after TIMEOUT_S. */
static int accept_one(const char *port_text, const char *timeout_text, const char *token)
{
    if (strlen(token) != 16) {
        fprintf(stderr, "data: the token must be 16 characters\n");
        return -1;
    }
    int port = atoi(port_text);
    long long deadline = mono_ns() + (long long)(atof(timeout_text) * 1e9);
    int server = socket(AF_INET, SOCK_STREAM, 0), on = 1;
    struct sockaddr_in at = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_ANY)};
    setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (server < 0 || bind(server, (struct sockaddr *)&at, sizeof at) || listen(server, 4)) {
        fprintf(stderr, "data: cannot listen on port %d: %s\n", port, strerror(errno));
        return -1;
    }
    for (;;) {
        long long left_ms = (deadline - mono_ns()) / 1000000;
        struct pollfd p = {.fd = server, .events = POLLIN};
        if (left_ms <= 0 || poll(&p, 1, (int)left_ms) <= 0) {
            fprintf(stderr, "data: no connection on port %d within %s s\n", port, timeout_text);
            close(server);
            return -1;
        }
        int peer = accept(server, NULL, NULL);
        char header[24];
        if (peer >= 0 && full_read(peer, header, 24) == 0 && !memcmp(header, MAGIC, 8)
            && !memcmp(header + 8, token, 16)) {
            close(server);
            return peer;
        }
        if (peer >= 0) close(peer);
    }
}

int tool_data_recv(int argc, char **argv)
{
    (void)argc;
    int peer = accept_one(argv[0], argv[2], argv[3]);
    if (peer < 0) return 3;
    uint64_t length;
    int out = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || full_read(peer, &length, 8)) {
        fprintf(stderr, "data-recv: %s: %s\n", argv[1], out < 0 ? strerror(errno) : "no length");
        return 1;
    }
    static char buf[1 << 16];
    uint32_t crc = 0;
    for (uint64_t done = 0; done < length;) {
        size_t n = length - done < sizeof buf ? (size_t)(length - done) : sizeof buf;
        if (full_read(peer, buf, n)) {
            fprintf(stderr, "data-recv: the connection ended after %llu of %llu bytes\n",
                    (unsigned long long)done, (unsigned long long)length);
            return 1;
        }
        if (full_write(out, buf, n)) { fprintf(stderr, "data-recv: writing %s: %s\n", argv[1], strerror(errno)); return 1; }
        crc = crc32_update(crc, buf, n);
        done += n;
    }
    if (close(out)) { fprintf(stderr, "data-recv: closing %s: %s\n", argv[1], strerror(errno)); return 1; }
    char line[64];
    int len = snprintf(line, sizeof line, "data %llu %08x\n", (unsigned long long)length, crc);
    full_write(peer, line, (size_t)len);
    close(peer);
    fputs(line, stdout);
    return 0;
}

int tool_data_send(int argc, char **argv)
{
    (void)argc;
    int in = open(argv[1], O_RDONLY);
    if (in < 0) { fprintf(stderr, "data-send: %s: %s\n", argv[1], strerror(errno)); return 1; }
    off_t size = lseek(in, 0, SEEK_END);
    lseek(in, 0, SEEK_SET);
    int peer = accept_one(argv[0], argv[2], argv[3]);
    if (peer < 0) return 3;
    uint64_t length = (uint64_t)size;
    static char buf[1 << 16];
    uint32_t crc = 0;
    if (full_write(peer, &length, 8)) { fprintf(stderr, "data-send: the connection ended\n"); return 1; }
    for (uint64_t done = 0; done < length;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n <= 0 || full_write(peer, buf, (size_t)n)) {
            fprintf(stderr, "data-send: stopped after %llu of %llu bytes\n", (unsigned long long)done,
                    (unsigned long long)length);
            return 1;
        }
        crc = crc32_update(crc, buf, (size_t)n);
        done += (uint64_t)n;
    }
    shutdown(peer, SHUT_WR);
    while (read(peer, buf, sizeof buf) > 0) {}   /* until the host has it all and closes */
    close(peer);
    printf("data %llu %08x\n", (unsigned long long)length, crc);
    return 0;
}

/* crc FILE: "data BYTES CRC32" of a file, as the transfers print it */
int tool_crc(int argc, char **argv)
{
    (void)argc;
    int in = open(argv[0], O_RDONLY);
    if (in < 0) { fprintf(stderr, "crc: %s: %s\n", argv[0], strerror(errno)); return 1; }
    static char buf[1 << 16];
    uint32_t crc = 0;
    unsigned long long total = 0;
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        crc = crc32_update(crc, buf, (size_t)n);
        total += (unsigned long long)n;
    }
    if (n < 0) { fprintf(stderr, "crc: reading %s: %s\n", argv[0], strerror(errno)); return 1; }
    printf("data %llu %08x\n", total, crc);
    return 0;
}
