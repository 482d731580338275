#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char *argv[]) {
    char *name = argv[1];
    if (strstr(name, "..") != NULL || strchr(name, '/') != NULL) {
        return 1;
    }
    char path[512];
    snprintf(path, sizeof(path), "/var/www/static/%s", name);
    FILE *page = fopen(path, "r");
    if (page) {
        fclose(page);
    }
    return 0;
}
