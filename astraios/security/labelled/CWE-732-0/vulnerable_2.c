#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int main(void) {
    FILE *out = fopen("cache.db", "w");
    if (out == NULL) {
        return 1;
    }
    fputs("cache", out);
    fclose(out);
    chmod("cache.db", S_IRWXU | S_IRWXG | S_IRWXO);
    return 0;
}
