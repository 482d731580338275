#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char *argv[]) {
    puts(argv[atoi(argv[1]) + 1]);
    return 0;
}
