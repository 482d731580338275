#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char *argv[]) {
    int which = atoi(argv[1]);
    printf("%s\n", argv[which]);
    return 0;
}
