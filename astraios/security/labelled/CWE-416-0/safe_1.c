#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    char *message = malloc(64);
    if (message == NULL) {
        return 1;
    }
    strcpy(message, "hello");
    printf("%s\n", message);
    free(message);
    message = NULL;
    return 0;
}
