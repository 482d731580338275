#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

int main(void) {
    const char *settings = "volume=3\n";
    int fd = open("settings.conf", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        return 1;
    }
    write(fd, settings, strlen(settings));
    close(fd);
    return 0;
}
