#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char *argv[]) {
    int seats = 0;
    if (argc > 1) {
        seats = atoi(argv[1]);
    }
    int with_staff = seats + 250;
    printf("%d\n", with_staff);
    return 0;
}
