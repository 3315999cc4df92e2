/* fuzz_util.h: what the fuzz targets share: a scratch directory, whole-file writes, and
 * silencing the node's log lines (cst_warn) around calls that warn on every odd input. */
#ifndef CST_FUZZ_UTIL_H
#define CST_FUZZ_UTIL_H

#include <fcntl.h>
#include <sanitizer/common_interface_defs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_scratch[256];

static inline void fuzz_scratch_remove(void)
{
    char cmd[300];
    if (snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fuzz_scratch) < (int)sizeof(cmd))
        (void)!system(cmd);
}

/* A fresh directory in /dev/shm (or /tmp) that lives as long as the process (one a process). */
static inline const char *fuzz_scratch_dir(const char *name)
{
    char *path = fuzz_scratch;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    if (snprintf(path, sizeof(fuzz_scratch), "%s/cst-fuzz-%s-XXXXXX", base, name) >=
            (int)sizeof(fuzz_scratch) ||
        !mkdtemp(path))
        abort();
    atexit(fuzz_scratch_remove);
    return path;
}

/* Replaces the file at path with n bytes of p. */
static inline void fuzz_write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (n > 0 && write(fd, p, n) != (ssize_t)n) || close(fd) != 0)
        abort();
}

/* Log lines go to /dev/null between quiet_begin and quiet_end; sanitizer reports keep going
 * to the real stderr (a copy of it made once), so a crash inside stays visible. */
static inline int fuzz_stderr(void)
{
    static int fd = -1;
    if (fd < 0) {
        fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
            abort();
        __sanitizer_set_report_fd((void *)(intptr_t)fd);
    }
    return fd;
}

static inline void fuzz_quiet_begin(void)
{
    fuzz_stderr();
    fflush(stderr);
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null < 0 || dup2(null, 2) != 2)
        abort();
    close(null);
}

static inline void fuzz_quiet_end(void)
{
    fflush(stderr);
    if (dup2(fuzz_stderr(), 2) != 2)
        abort();
}

/* CST_FUZZ_WRITE_SEEDS=DIR: the target writes its seed corpus to DIR and the process exits. */
static inline void fuzz_seeds_if_asked(void (*write_seeds)(const char *dir))
{
    const char *dir = getenv("CST_FUZZ_WRITE_SEEDS");
    if (dir) {
        write_seeds(dir);
        exit(0);
    }
}

#endif
