#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char *argv[]) {
    char *input = argv[1];
    int i = strlen(input) - 1;
    while (input[i] == ' ' || input[i] == '\t' || input[i] == '\n') {
        input[i--] = '\0';
    }
    printf("'%s'\n", input);
    return 0;
}
