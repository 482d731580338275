#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char *argv[]) {
    int value = rand();
    value = value + 1001;
    printf("%d\n", value);
    return 0;
}
