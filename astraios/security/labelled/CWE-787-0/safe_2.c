#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    float x = (float)rand(), y = (float)rand();
    char line[32];
    snprintf(line, sizeof(line), "%.3f,%.3f", x, y);
    puts(line);
    return 0;
}
