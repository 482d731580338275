#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    char *message = malloc(64);
    if (message == NULL) {
        return 1;
    }
    strcpy(message, "hello");
    free(message);
    printf("%s\n", message);
    return 0;
}
