#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char *argv[]) {
    int seats = argc > 1 ? atoi(argv[1]) : 0;
    long long with_staff = (long long)seats + 250;
    printf("%lld\n", with_staff);
    return 0;
}
