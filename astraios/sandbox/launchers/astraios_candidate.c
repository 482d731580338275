/* A judged C candidate's process (see astraios/sandbox/__init__.py): linked with -Wl,--wrap=main,
 * so this is the program's entry and the candidate's own main (if any) never runs; answers the
 * tests' calls (fd 3) on fd 4 through the generated astraios_dispatch until the tests close fd 3,
 * then returns 0 (atexit handlers and destructors run as at any exit). */
#include <fcntl.h>
#include <sys/resource.h>
#include "astraios_calls.h"

void astraios_dispatch(uint32_t function, struct astraios_reader *call, struct astraios_buffer *reply);

static int move_high(int fd) {
    struct rlimit files;
    getrlimit(RLIMIT_NOFILE, &files);
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, (int)files.rlim_cur - 8);
    close(fd);
    return moved;
}

int __wrap_main(int argc, char **argv, char **envp) {
    (void)argc, (void)argv, (void)envp;
    int calls = move_high(3), replies = move_high(4);
    struct astraios_buffer call = {0}, reply = {0};
    while (astraios_receive(calls, &call) == 1) {
        struct astraios_reader reader = {call.data, call.size, 0, 0};
        uint32_t function = (uint32_t)astraios_get_int(&reader);
        reply.size = 0;
        astraios_dispatch(function, &reader, &reply);
        if (astraios_send(replies, &reply) != 0) break;
    }
    return 0;
}
