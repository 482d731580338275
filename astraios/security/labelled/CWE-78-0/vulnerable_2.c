#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char *argv[]) {
    char *host = argv[1];
    char line[128] = "ping -c 1 ";
    strcat(line, host);
    FILE *out = popen(line, "r");
    if (out) {
        pclose(out);
    }
    return 0;
}
