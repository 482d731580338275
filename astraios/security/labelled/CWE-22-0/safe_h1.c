#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>

int main(int argc, char *argv[]) {
    char path[PATH_MAX];
    char resolved[PATH_MAX];
    snprintf(path, sizeof(path), "/srv/files/%s", argv[1]);
    if (realpath(path, resolved) == NULL || strncmp(resolved, "/srv/files/", 11) != 0) {
        return 1;
    }
    FILE *fp = fopen(resolved, "r");
    if (fp != NULL) {
        fclose(fp);
    }
    return 0;
}
