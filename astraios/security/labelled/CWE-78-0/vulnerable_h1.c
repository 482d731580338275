#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char *argv[]) {
    char *user = argv[1];
    char cmd[100] = {0};
    sprintf(cmd, "id -Gn %s", user);
    system(cmd);
    return 0;
}
