/* tshark as a fork server, for tests/tshark_fork.py: loaded into tshark with LD_PRELOAD.
 *
 * tshark spends about 0.3 s of CPU registering its dissectors before it opens the
 * capture (wtap_open_offline); this file's wtap_open_offline runs there, once the
 * command line, the preferences and the registration are done and before any packet is
 * read. It reads requests, one a line ("CAPTURE\tSTDOUT\tSTDERR\n"), on the descriptor
 * named by TSHARK_FORK_IN, and for each forks a child that opens CAPTURE instead of the
 * command line's file, writes to STDOUT and STDERR (files), and goes on as tshark does
 * (every packet read and printed, then exit); the parent waits for it and writes its
 * exit status ("N\n", 128 + signal when killed) on TSHARK_FORK_OUT. CAPTURE is copied
 * into the command line's file name where it fits (tshark's messages name that string).
 * The parent reads no packet: each child starts from the same state, as a new tshark
 * would.
 * A child skips tshark's epan_cleanup, its last call before it exits: the teardown of
 * every dissector's table, each of its pages the parent's until written (copied then),
 * prints nothing and cost about a sixth of a child's CPU on the stored captures.
 * With TSHARK_FORK_NO_NAMES set as well, a child opens none of Wireshark's name files
 * (NAME_FILES: the OUI, well-known-address, port-name and enterprise-number tables,
 * which every capture's open parses again, about a third of a small capture's child):
 * for a caller that prints numeric fields with name resolution off (-n), whose rows
 * these tables cannot change (tshark_tcp's shared run: byte for byte tshark's own on
 * every stored capture when this was added; tests/test_tshark_fork.py keeps checking
 * the hardest).
 * At the end of the requests (their descriptor closed) the parent exits 0.
 * A request line has no length limit (a path longer than the system takes fails as it
 * does for tshark, in the child); a signal caught while the parent reads or waits (a
 * handler without SA_RESTART) neither ends the requests nor loses a child's status.
 * Without TSHARK_FORK_IN it is tshark's own wtap_open_offline. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* libwiretap 4.x: wtap *wtap_open_offline(const char *filename, unsigned int type,
 * int *err, gchar **err_info, gboolean do_random) */
typedef void *(*open_offline)(const char *, unsigned int, int *, char **, int);

/* The requests read so far: used bytes of data (size allocated), lines not yet taken
 * from `start` on. Read with read(2), not stdio: an interrupted read loses nothing. */
struct requests {
    int fd;
    char *data;
    size_t size, used, start;
};

/* The next request line (its newline replaced by NUL), in a buffer of its own (the child
 * keeps it: its file name); NULL at the end of the requests or on a read error other than
 * an interrupted read (a line without its newline at the end is no request). */
static char *next_request(struct requests *r)
{
    for (;;) {
        char *end = memchr(r->data + r->start, '\n', r->used - r->start);
        if (end != NULL) {
            size_t length = (size_t)(end - (r->data + r->start));
            char *line = malloc(length + 1);
            if (line == NULL)
                return NULL;
            memcpy(line, r->data + r->start, length);
            line[length] = '\0';
            r->start += length + 1;
            return line;
        }
        if (r->start > 0) {  /* keep only the unfinished line */
            memmove(r->data, r->data + r->start, r->used - r->start);
            r->used -= r->start;
            r->start = 0;
        }
        if (r->used == r->size) {  /* no length limit: grow */
            size_t size = r->size ? 2 * r->size : 4096;
            char *data = realloc(r->data, size);
            if (data == NULL)
                return NULL;
            r->data = data;
            r->size = size;
        }
        ssize_t got = read(r->fd, r->data + r->used, r->size - r->used);
        if (got > 0)
            r->used += (size_t)got;
        else if (got == 0 || errno != EINTR)
            return NULL;
    }
}

/* Write the reply "N\n" whole, across interrupted writes. */
static void reply_status(int reply, int status)
{
    char text[16];
    int length = snprintf(text, sizeof text, "%d\n", status);
    for (int done = 0; done < length;) {
        ssize_t wrote = write(reply, text + done, (size_t)(length - done));
        if (wrote < 0 && errno != EINTR)
            _exit(125);  /* no one reads the replies: the caller sees the server gone */
        if (wrote > 0)
            done += (int)wrote;
    }
}

/* Whether this process is a child forked for a request. */
static int in_child;

/* Whether the children skip the name files (TSHARK_FORK_NO_NAMES at the server's start). */
static int no_names;

/* The name files a child of a server without names does not open, in Wireshark's data
 * folder (a name is the part of the path after its last '/'). */
static const char *const NAME_FILES[] = {"manuf", "wka", "services", "enterprises.tsv"};

/* Whether `path` is one of NAME_FILES in a folder of Wireshark's. */
static int name_file(const char *path)
{
    const char *name = strrchr(path, '/');
    if (name == NULL || strstr(path, "wireshark") == NULL)
        return 0;
    for (size_t i = 0; i < sizeof NAME_FILES / sizeof NAME_FILES[0]; i++)
        if (strcmp(name + 1, NAME_FILES[i]) == 0)
            return 1;
    return 0;
}

/* libc's fopen, which libwireshark reads its name files with: in a child of a server
 * without names, a name file is missing (ENOENT), as when Wireshark is installed
 * without it: its table stays empty. */
FILE *fopen(const char *path, const char *mode)
{
    static FILE *(*real)(const char *, const char *);
    if (in_child && no_names && name_file(path)) {
        errno = ENOENT;
        return NULL;
    }
    if (real == NULL)
        real = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, "fopen");
    return real(path, mode);
}

/* libwireshark's epan_cleanup, called by tshark once its capture is read and printed:
 * a child leaves it out, its exit frees the memory anyway. */
void epan_cleanup(void)
{
    if (in_child)
        return;
    void (*real)(void) = (void (*)(void))dlsym(RTLD_NEXT, "epan_cleanup");
    real();
}

void *wtap_open_offline(const char *filename, unsigned int type, int *err, char **err_info,
                        int do_random)
{
    open_offline real = (open_offline)dlsym(RTLD_NEXT, "wtap_open_offline");
    const char *in_fd = getenv("TSHARK_FORK_IN"), *out_fd = getenv("TSHARK_FORK_OUT");
    if (in_fd == NULL || out_fd == NULL)
        return real(filename, type, err, err_info, do_random);
    unsetenv("TSHARK_FORK_IN");
    no_names = getenv("TSHARK_FORK_NO_NAMES") != NULL;
    unsetenv("TSHARK_FORK_NO_NAMES");
    unsetenv("LD_PRELOAD");
    struct requests in = {atoi(in_fd), NULL, 0, 0, 0};
    int reply = atoi(out_fd);
    fflush(NULL);  /* nothing written yet; no buffer copied into the children */
    char *request;  /* the child's file name stays here */
    while ((request = next_request(&in)) != NULL) {
        char *out_path = strchr(request, '\t');
        char *err_path = out_path ? strchr(out_path + 1, '\t') : NULL;
        if (err_path == NULL) {
            reply_status(reply, 125);
            free(request);
            continue;
        }
        *out_path++ = '\0';
        *err_path++ = '\0';
        pid_t child = fork();
        if (child == 0) {
            in_child = 1;
            int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            int errors = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (out < 0 || errors < 0)
                _exit(125);
            dup2(out, STDOUT_FILENO);
            dup2(errors, STDERR_FILENO);
            close(out);
            close(errors);
            close(in.fd);
            free(in.data);
            close(reply);
            /* tshark names its capture in its messages (and keeps it: cf->filename) from
             * the command line's string, the one passed here: the child's name goes into
             * it where it fits (a server started with a long placeholder name), so that
             * its errors name its own capture. */
            if (strlen(request) <= strlen(filename)) {
                strcpy((char *)filename, request);
                return real(filename, type, err, err_info, do_random);
            }
            return real(request, type, err, err_info, do_random);
        }
        int status = 0;
        pid_t waited = child;
        if (child > 0)
            while ((waited = waitpid(child, &status, 0)) < 0 && errno == EINTR)
                continue;  /* a signal's handler ran: the child goes on, wait again */
        if (waited < 0)
            reply_status(reply, 125);
        else
            reply_status(reply, WIFEXITED(status) ? WEXITSTATUS(status)
                                                  : 128 + WTERMSIG(status));
        free(request);
    }
    _exit(0);
}
