/* The tests of a judged C program (see astraios/sandbox/__init__.py): linked with
 * -Wl,--wrap=main, so the tests' main is __real_main; the generated stubs (one per function of
 * the candidate, same prototype) call the candidate through astraios_call (fd 3 out, fd 4 in).
 * Reports on fd 5: "done" when the tests' main returned 0; "broken: why" when the candidate ended
 * or answered nonsense (the tests cannot go on: they end there, failed). */
#include "astraios_calls.h"

int __real_main(int argc, char **argv, char **envp);

static void astraios_report(const char *text) {
    (void)!write(5, text, strlen(text));
}

static void astraios_broken(const char *why) {
    astraios_report("broken: ");
    astraios_report(why);
    astraios_report("\n");
    _exit(1);
}

struct astraios_reader astraios_call(struct astraios_buffer *request) {
    static struct astraios_buffer reply;
    if (astraios_send(3, request) != 0) astraios_broken("the candidate ended before answering");
    free(request->data);
    int status = astraios_receive(4, &reply);
    if (status != 1) astraios_broken(status ? "the candidate sent a malformed message" : "the candidate ended before answering");
    struct astraios_reader reader = {reply.data, reply.size, 0, 0};
    return reader;
}

void astraios_check(struct astraios_reader *reader) {
    if (reader->bad || reader->at != reader->size) astraios_broken("the candidate sent a malformed message");
}

int __wrap_main(int argc, char **argv, char **envp) {
    int code = __real_main(argc, argv, envp);
    close(3); /* the candidate sees the end of its input and exits */
    if (code == 0) astraios_report("done\n");
    return code;
}
