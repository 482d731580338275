#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int visitors(int gate);

int main(void) {
    int total = visitors(1) + visitors(2) + visitors(3);
    printf("%d\n", total);
    return 0;
}
