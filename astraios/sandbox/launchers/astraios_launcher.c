/* Completion-proof launcher for C programs (see astraios/sandbox/__init__.py). Linked first and
 * with -Wl,--wrap=main, so the program's own main (with C's implicit `return 0`) is __real_main
 * and the nonce reaches the proof fd only when it returns 0, never after exit(), _exit() or
 * abort(). The nonce is taken from its fd in .preinit_array, before any constructor of the
 * program can run. Linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc too, so that an
 * allocation the memory limit refuses is reported on the proof pipe ("memory"): the verdict is then
 * `error`, as for Python's MemoryError, whatever the program does with the NULL. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int __real_main(int argc, char **argv, char **envp);
void *__real_malloc(size_t size);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *pointer, size_t size);

static char nonce[256];
static size_t nonce_length;
static int proof = -1;

static void take_proof_channel(int argc, char **argv, char **envp) {
    (void)argc, (void)argv, (void)envp;
    ssize_t got;
    while (nonce_length < sizeof nonce - 1 &&
           (got = read(3, nonce + nonce_length, sizeof nonce - 1 - nonce_length)) > 0)
        nonce_length += (size_t)got;
    close(3);
    struct rlimit files;
    getrlimit(RLIMIT_NOFILE, &files); /* the proof fd goes to the highest allowed number, out of the way */
    proof = fcntl(4, F_DUPFD_CLOEXEC, (int)files.rlim_cur - 1);
    close(4);
}

__attribute__((section(".preinit_array"), used))
static void (*const run_take_proof_channel)(int, char **, char **) = take_proof_channel;

int __wrap_main(int argc, char **argv, char **envp) {
    int code = __real_main(argc, argv, envp);
    if (code == 0 && proof >= 0) {
        nonce[nonce_length++] = '\n';
        (void)!write(proof, nonce, nonce_length);
    }
    memset(nonce, 0, sizeof nonce);
    return code;
}

static void *allocated(void *pointer, size_t size) {
    static const char marker[] = "memory\n";
    if (pointer == NULL && size != 0 && proof >= 0)
        (void)!write(proof, marker, sizeof marker - 1);
    return pointer;
}

void *__wrap_malloc(size_t size) { return allocated(__real_malloc(size), size); }
void *__wrap_calloc(size_t count, size_t size) { return allocated(__real_calloc(count, size), count * size); }
void *__wrap_realloc(void *pointer, size_t size) { return allocated(__real_realloc(pointer, size), size); }
