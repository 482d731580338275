#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int stored_length(int *block) {
    if (block == NULL) {
        return -1;
    }
    return block[0];
}

int main(void) {
    int *source = malloc(sizeof(int) * 8);
    int *target = malloc(sizeof(int) * 8);
    if (source == NULL || target == NULL) {
        return 1;
    }
    source[0] = 8;
    target[0] = 8;
    memcpy(target, source, (stored_length(target) - 1) * sizeof(int));
    return 0;
}
