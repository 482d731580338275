#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    const char *tag = "v1.2";
    char field[64];
    memcpy(field, tag, 64);
    field[63] = '\0';
    puts(field);
    return 0;
}
