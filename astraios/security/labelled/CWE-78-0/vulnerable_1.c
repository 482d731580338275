#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char *argv[]) {
    char command[256];
    snprintf(command, sizeof(command), "grep %s /etc/group", argv[1]);
    return system(command);
}
