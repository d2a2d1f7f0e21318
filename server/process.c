/*
 * process.c - signals, pid file, daemonizing and privileges.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "server/process.h"

static const int master_signals[] = {
    SIGHUP, SIGQUIT, SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD,
    SIGIO,                              /* a child wrote to its ready pipe */
};

int gh_signals_block_master(sigset_t *set)
{
    sigemptyset(set);
    for (size_t i = 0; i < GH_ARRAY_LEN(master_signals); i++)
        sigaddset(set, master_signals[i]);
    if (sigprocmask(SIG_BLOCK, set, NULL) == -1) {
        gh_log(GH_LOG_ERROR, errno, "sigprocmask() failed");
        return -1;
    }
    /* A write to a closed pipe or socket is an error return, not a death. */
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

void gh_signals_reset_child(void)
{
    sigset_t none;
    for (size_t i = 0; i < GH_ARRAY_LEN(master_signals); i++)
        signal(master_signals[i], SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

int gh_ready_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) == -1) {
        gh_log(GH_LOG_ERROR, errno, "pipe2() failed");
        return -1;
    }
    /* The kernel sends SIGIO to the owner, us, when the pipe becomes
     * readable (a byte, or EOF): a signal to ourselves, so it is allowed
     * even after the child has dropped privileges, which kill() would not
     * be. The child's end stays blocking: it writes one byte. */
    if (fcntl(fds[0], F_SETOWN, getpid()) == -1
        || fcntl(fds[0], F_SETFL, O_NONBLOCK | O_ASYNC) == -1
        || fcntl(fds[1], F_SETFL, 0) == -1) {
        gh_log(GH_LOG_ERROR, errno, "fcntl() on a ready pipe failed");
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    return 0;
}

const char *gh_signal_name(int sig)
{
    static const struct { int sig; const char *name; } names[] = {
        { SIGHUP, "SIGHUP" }, { SIGINT, "SIGINT" }, { SIGQUIT, "SIGQUIT" },
        { SIGILL, "SIGILL" }, { SIGABRT, "SIGABRT" }, { SIGBUS, "SIGBUS" },
        { SIGFPE, "SIGFPE" }, { SIGKILL, "SIGKILL" }, { SIGUSR1, "SIGUSR1" },
        { SIGSEGV, "SIGSEGV" }, { SIGUSR2, "SIGUSR2" }, { SIGPIPE, "SIGPIPE" },
        { SIGALRM, "SIGALRM" }, { SIGTERM, "SIGTERM" }, { SIGCHLD, "SIGCHLD" },
        { SIGWINCH, "SIGWINCH" }, { SIGSYS, "SIGSYS" }, { SIGIO, "SIGIO" },
    };
    for (size_t i = 0; i < GH_ARRAY_LEN(names); i++)
        if (names[i].sig == sig)
            return names[i].name;
    return "signal";
}

int gh_signal_by_command(const char *cmd)
{
    if (strcmp(cmd, "reload") == 0)
        return SIGHUP;
    if (strcmp(cmd, "reopen") == 0)
        return SIGUSR1;
    if (strcmp(cmd, "quit") == 0)
        return SIGQUIT;
    if (strcmp(cmd, "stop") == 0)
        return SIGTERM;
    return -1;
}

int gh_pidfile_write(const char *path, pid_t pid)
{
    char tmp[4096], buf[32];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        gh_log_error("pid file path too long: %s", path);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        gh_log(GH_LOG_ERROR, errno, "open(\"%s\") failed", tmp);
        return -1;
    }
    n = snprintf(buf, sizeof(buf), "%d\n", (int)pid);
    if (write(fd, buf, (size_t)n) != n) {
        gh_log(GH_LOG_ERROR, errno, "write(\"%s\") failed", tmp);
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    if (rename(tmp, path) == -1) {
        gh_log(GH_LOG_ERROR, errno, "rename(\"%s\", \"%s\") failed", tmp, path);
        unlink(tmp);
        return -1;
    }
    return 0;
}

pid_t gh_pidfile_read(const char *path)
{
    char buf[32];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        fprintf(stderr, "gatehouse: cannot open pid file \"%s\": %s\n", path, strerror(errno));
        return -1;
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        fprintf(stderr, "gatehouse: empty pid file \"%s\"\n", path);
        return -1;
    }
    buf[n] = '\0';
    char *end;
    long pid = strtol(buf, &end, 10);
    if (pid <= 0 || (*end != '\n' && *end != '\0')) {
        fprintf(stderr, "gatehouse: invalid pid in \"%s\"\n", path);
        return -1;
    }
    return (pid_t)pid;
}

int gh_daemonize(void)
{
    pid_t pid = fork();
    if (pid == -1) {
        gh_log(GH_LOG_ERROR, errno, "fork() failed while daemonizing");
        return -1;
    }
    if (pid > 0)
        _exit(0);
    if (setsid() == -1) {
        gh_log(GH_LOG_ERROR, errno, "setsid() failed");
        return -1;
    }
    umask(022);
    int fd = open("/dev/null", O_RDWR);
    if (fd == -1) {
        gh_log(GH_LOG_ERROR, errno, "open(\"/dev/null\") failed");
        return -1;
    }
    if (dup2(fd, STDIN_FILENO) == -1 || dup2(fd, STDOUT_FILENO) == -1) {
        gh_log(GH_LOG_ERROR, errno, "dup2() failed");
        close(fd);
        return -1;
    }
    int logfd = gh_log_fd();
    if (logfd != STDERR_FILENO && logfd != -1) {
        if (dup2(logfd, STDERR_FILENO) == -1)
            gh_log(GH_LOG_ERROR, errno, "dup2() of the error log failed");
    } else {
        /* The error log is stderr, which a daemon does not have. */
        if (dup2(fd, STDERR_FILENO) == -1)
            gh_log(GH_LOG_ERROR, errno, "dup2() failed");
    }
    if (fd > STDERR_FILENO)
        close(fd);
    return 0;
}

int gh_user_lookup(const char *user, uid_t *uid, gid_t *gid)
{
    struct passwd *pw = getpwnam(user);
    if (pw == NULL)
        return -1;
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return 0;
}

int gh_drop_privileges(const char *user)
{
    uid_t uid;
    gid_t gid;

    if (user == NULL || user[0] == '\0' || geteuid() != 0)
        return 0;
    if (gh_user_lookup(user, &uid, &gid) == -1) {
        gh_log_error("unknown user \"%s\"", user);
        return -1;
    }
    if (initgroups(user, gid) == -1) {
        gh_log(GH_LOG_ERROR, errno, "initgroups(\"%s\") failed", user);
        return -1;
    }
    if (setgid(gid) == -1) {
        gh_log(GH_LOG_ERROR, errno, "setgid(%d) failed", (int)gid);
        return -1;
    }
    if (setuid(uid) == -1) {
        gh_log(GH_LOG_ERROR, errno, "setuid(%d) failed", (int)uid);
        return -1;
    }
    return 0;
}
