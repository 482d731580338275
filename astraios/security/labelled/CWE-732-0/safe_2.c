#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    FILE *out = fopen("cache.db", "w");
    if (out == NULL) {
        return 1;
    }
    fputs("cache", out);
    fclose(out);
    return 0;
}
