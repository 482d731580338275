#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char *argv[]) {
    long count = 0;
    if (argc > 1) {
        count = strtol(argv[1], NULL, 10);
    }
    int total = count * 4;
    printf("%d\n", total);
    return 0;
}
