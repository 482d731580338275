#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    int amount;
    if (scanf("%d", &amount) != 1) {
        return 1;
    }
    amount += 100;
    printf("%d\n", amount);
    return 0;
}
