#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

int main(void) {
    char *config = "important_config";
    int fd = open(config, O_RDWR | O_CREAT, S_IRUSR | S_IWUSR);
    if (fd < 0) {
        return 1;
    }
    write(fd, config, strlen(config));
    close(fd);
    return 0;
}
