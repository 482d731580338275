#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    const char *tag = "v1.2";
    char field[64];
    strncpy(field, tag, sizeof(field) - 1);
    field[sizeof(field) - 1] = '\0';
    puts(field);
    return 0;
}
