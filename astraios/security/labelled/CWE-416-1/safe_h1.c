#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    char *buffer = malloc(1024);
    if (buffer == NULL) {
        return 1;
    }
    size_t bytes = fread(buffer, 1, 1024, stdin);
    int checksum = 0;
    for (size_t i = 0; i < bytes; i++) {
        checksum += buffer[i];
    }
    free(buffer);
    FILE *results = fopen("results.txt", "w");
    if (results == NULL) {
        return 1;
    }
    fprintf(results, "%zu %d\n", bytes, checksum);
    fclose(results);
    return 0;
}
