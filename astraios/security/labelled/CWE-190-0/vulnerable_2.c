#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    int draw = rand();
    int scaled = draw * 16;
    printf("%d\n", scaled);
    return 0;
}
