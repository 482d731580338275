#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char *argv[]) {
    char path[512];
    snprintf(path, sizeof(path), "/var/www/static/%s", argv[1]);
    FILE *page = fopen(path, "r");
    if (page) {
        fclose(page);
    }
    return 0;
}
