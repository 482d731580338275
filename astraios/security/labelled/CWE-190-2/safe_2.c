#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>

extern int visitors(int gate);

int main(void) {
    int total = 0;
    for (int gate = 1; gate <= 3; gate++) {
        int count = visitors(gate);
        if (count > 0 && total > INT_MAX - count) {
            fprintf(stderr, "overflow\n");
            return 1;
        }
        total += count;
    }
    printf("%d\n", total);
    return 0;
}
