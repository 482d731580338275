#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    int *counts = (int *)calloc(10, sizeof(int));
    counts[3] = 1;
    printf("%d\n", counts[3]);
    free(counts);
    return 0;
}
