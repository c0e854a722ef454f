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
 * At the end of the requests (their descriptor closed) the parent exits 0.
 * Without TSHARK_FORK_IN it is tshark's own wtap_open_offline. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* libwiretap 4.x: wtap *wtap_open_offline(const char *filename, unsigned int type,
 * int *err, gchar **err_info, gboolean do_random) */
typedef void *(*open_offline)(const char *, unsigned int, int *, char **, int);

static char request[16384];  /* the child's file name stays here */

void *wtap_open_offline(const char *filename, unsigned int type, int *err, char **err_info,
                        int do_random)
{
    open_offline real = (open_offline)dlsym(RTLD_NEXT, "wtap_open_offline");
    const char *in_fd = getenv("TSHARK_FORK_IN"), *out_fd = getenv("TSHARK_FORK_OUT");
    if (in_fd == NULL || out_fd == NULL)
        return real(filename, type, err, err_info, do_random);
    unsetenv("TSHARK_FORK_IN");
    unsetenv("LD_PRELOAD");
    FILE *in = fdopen(atoi(in_fd), "r");
    int reply = atoi(out_fd);
    if (in == NULL)
        _exit(125);
    fflush(NULL);  /* nothing written yet; no buffer copied into the children */
    while (fgets(request, sizeof request, in) != NULL) {
        request[strcspn(request, "\n")] = '\0';
        char *out_path = strchr(request, '\t');
        char *err_path = out_path ? strchr(out_path + 1, '\t') : NULL;
        if (err_path == NULL) {
            dprintf(reply, "125\n");
            continue;
        }
        *out_path++ = '\0';
        *err_path++ = '\0';
        pid_t child = fork();
        if (child == 0) {
            int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            int errors = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (out < 0 || errors < 0)
                _exit(125);
            dup2(out, STDOUT_FILENO);
            dup2(errors, STDERR_FILENO);
            close(out);
            close(errors);
            fclose(in);
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
        if (child < 0 || waitpid(child, &status, 0) < 0)
            dprintf(reply, "125\n");
        else
            dprintf(reply, "%d\n", WIFEXITED(status) ? WEXITSTATUS(status)
                                                     : 128 + WTERMSIG(status));
    }
    _exit(0);
}
