#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    float reading = (float)rand() / (float)RAND_MAX;
    char text[64];
    snprintf(text, sizeof text, "%f", reading);
    puts(text);
    return 0;
}
