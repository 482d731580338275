#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char *argv[]) {
    char *copy = strdup(argc > 1 ? argv[1] : "x");
    if (copy == NULL) {
        return 1;
    }
    free(copy);
    if (argc > 2) {
        free(copy);
    }
    return 0;
}
