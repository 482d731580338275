#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define MAX_LEN 256

int main(int argc, char *argv[]) {
    char *requested = argv[1];
    char buffer[MAX_LEN];
    strcpy(buffer, "/srv/files/");
    strncat(buffer, requested, MAX_LEN - strlen(buffer) - 1);
    FILE *fp = fopen(buffer, "r");
    if (fp != NULL) {
        fclose(fp);
    }
    return 0;
}
