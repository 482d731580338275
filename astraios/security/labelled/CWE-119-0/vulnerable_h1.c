#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    const char* text = "Hello";
    char dest[256];
    memcpy(dest, text, sizeof dest);
    dest[255] = 0;
    puts(dest);
    return 0;
}
