#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    float a = (float)rand() / (float)RAND_MAX;
    char str_a[64];
    int written = snprintf(str_a, sizeof(str_a), "%f", a);
    if (written < 0 || written >= (int)sizeof(str_a)) {
        return 1;
    }
    puts(str_a);
    return 0;
}
