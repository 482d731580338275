#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

int main(void) {
    char *config = "important_config";
    int fd = open(config, O_RDWR | O_CREAT, 0777);
    write(fd, config, strlen(config));
    close(fd);
    return 0;
}
