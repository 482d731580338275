#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int readings(int day);

int main(void) {
    int week = 0;
    for (int day = 0; day < 7; day++) {
        week += readings(day);
    }
    printf("%d\n", week);
    return 0;
}
