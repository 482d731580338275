#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char *argv[]) {
    char *copy = strdup(argc > 1 ? argv[1] : "x");
    if (copy == NULL) {
        return 1;
    }
    size_t length = strlen(copy);
    free(copy);
    copy = malloc(length + 1);
    if (copy == NULL) {
        return 1;
    }
    copy[0] = '\0';
    printf("%zu %s\n", length, copy);
    free(copy);
    return 0;
}
