#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char *argv[]) {
    if (argc < 2) {
        return 1;
    }
    int which = atoi(argv[1]);
    if (which <= 0 || which >= argc) {
        return 1;
    }
    printf("%s\n", argv[which]);
    return 0;
}
