#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    int *first = malloc(sizeof(int) * 10);
    int *second = malloc(sizeof(int) * 10);
    if (first == NULL || second == NULL) {
        return 1;
    }
    first[0] = 10;
    second[0] = 10;
    memcpy(second, first, 10 * sizeof(int));
    return 0;
}
