#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

int main(int argc, char *argv[]) {
    char *report = argv[1];
    char full[300] = "/srv/reports/";
    strcat(full, report);
    int fd = open(full, O_RDONLY);
    if (fd >= 0) {
        close(fd);
    }
    return 0;
}
