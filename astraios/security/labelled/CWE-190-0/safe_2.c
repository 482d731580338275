#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    int draw;
    do {
        draw = rand();
    } while (draw <= 5000);
    printf("%d\n", draw);
    return 0;
}
