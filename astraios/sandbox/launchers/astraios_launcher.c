/* Completion-proof launcher for C programs (see astraios/sandbox/__init__.py). Linked with
 * -Wl,--wrap=main, so the program's own main (with C's implicit `return 0`) is __real_main and
 * the nonce reaches the proof fd only when it returns 0, never after exit(), _exit() or abort(). */
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int __real_main(int argc, char **argv, char **envp);

int __wrap_main(int argc, char **argv, char **envp) {
    char nonce[256];
    ssize_t length = 0, got;
    while (length < (ssize_t)sizeof nonce - 1 &&
           (got = read(3, nonce + length, sizeof nonce - 1 - (size_t)length)) > 0)
        length += got;
    close(3);
    struct rlimit files;
    getrlimit(RLIMIT_NOFILE, &files); /* the proof fd goes to the highest allowed number, out of the way */
    int proof = fcntl(4, F_DUPFD_CLOEXEC, (int)files.rlim_cur - 1);
    close(4);
    int code = __real_main(argc, argv, envp);
    if (code == 0 && proof >= 0) {
        nonce[length++] = '\n';
        (void)!write(proof, nonce, (size_t)length);
    }
    memset(nonce, 0, sizeof nonce);
    return code;
}
