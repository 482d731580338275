#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int getMonthlyTotal(int month);

int main(void) {
    int quarter = 0;
    int month = 0;
    while (month < 3) {
        quarter = quarter + getMonthlyTotal(month);
        month++;
    }
    printf("%d\n", quarter);
    return 0;
}
