#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

int main(int argc, char *argv[]) {
    char *host = argv[1];
    for (size_t i = 0; host[i] != '\0'; i++) {
        if (!isalnum((unsigned char)host[i]) && host[i] != '.' && host[i] != '-') {
            return 1;
        }
    }
    char line[128];
    snprintf(line, sizeof(line), "ping -c 1 %s", host);
    return system(line);
}
