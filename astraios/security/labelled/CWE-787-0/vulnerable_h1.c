#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    float a = (float)rand() / (float)RAND_MAX;
    float b = (float)rand() / (float)RAND_MAX;
    char str_a[20], str_b[20];
    sprintf(str_a, "%f", a);
    sprintf(str_b, "%f", b);
    printf("%s %s\n", str_a, str_b);
    return 0;
}
