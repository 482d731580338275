#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>

int main(int argc, char *argv[]) {
    int value = 0;
    if (argc > 1) {
        value = atoi(argv[1]);
    }
    if (value > INT_MAX - 1000) {
        printf("value too large\n");
        return 1;
    }
    printf("%d\n", value + 1000);
    return 0;
}
