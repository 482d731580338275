#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    char *line = malloc(512);
    fgets(line, 512, stdin);
    printf("%s", line);
    free(line);
    return 0;
}
