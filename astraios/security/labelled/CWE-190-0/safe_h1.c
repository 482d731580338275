#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>

int main(int argc, char *argv[]) {
    int value = rand() % (INT_MAX - 1001) + 1001;
    printf("%d\n", value);
    return 0;
}
