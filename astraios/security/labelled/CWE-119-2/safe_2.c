#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char *argv[]) {
    char *names[] = {"red", "green", "blue"};
    int which = argc > 1 ? atoi(argv[1]) : 0;
    if (which >= 0 && which < 3) {
        puts(names[which]);
    }
    return 0;
}
