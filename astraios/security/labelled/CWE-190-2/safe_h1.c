#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>

extern int getMonthlyTotal(int month);

int main(void) {
    int quarter = 0;
    for (int month = 0; month < 3; month++) {
        int sales = getMonthlyTotal(month);
        if (__builtin_add_overflow(quarter, sales, &quarter)) {
            puts("overflow");
            return 1;
        }
    }
    printf("%d\n", quarter);
    return 0;
}
