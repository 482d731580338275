#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    char *buffer = malloc(1024);
    if (buffer == NULL) {
        return 1;
    }
    size_t bytes = fread(buffer, 1, 1024, stdin);
    free(buffer);
    FILE *results = fopen("results.txt", "w");
    if (results == NULL) {
        return 1;
    }
    fwrite(buffer, 1, bytes, results);
    fclose(results);
    return 0;
}
