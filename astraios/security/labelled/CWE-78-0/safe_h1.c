#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

int main(int argc, char *argv[]) {
    char *user = argv[1];
    pid_t child = fork();
    if (child == 0) {
        execl("/usr/bin/id", "id", "-Gn", user, (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(child, &status, 0);
    return 0;
}
