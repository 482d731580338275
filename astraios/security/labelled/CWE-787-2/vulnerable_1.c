#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

int main(int argc, char *argv[]) {
    if (argc != 2) {
        return 1;
    }
    char *text = argv[1];
    size_t length = strlen(text);
    while (isspace((unsigned char)text[length - 1])) {
        text[length - 1] = '\0';
        length--;
    }
    puts(text);
    return 0;
}
