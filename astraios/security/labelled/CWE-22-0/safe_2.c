#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libgen.h>

int main(int argc, char *argv[]) {
    char *leaf = basename(argv[1]);
    char path[512];
    snprintf(path, sizeof(path), "/var/www/static/%s", leaf);
    FILE *page = fopen(path, "r");
    if (page) {
        fclose(page);
    }
    return 0;
}
