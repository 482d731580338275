#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    float x = (float)rand(), y = (float)rand();
    char first[10], second[10];
    sprintf(first, "%f", x);
    sprintf(second, "%.2f", y);
    printf("%s,%s\n", first, second);
    return 0;
}
