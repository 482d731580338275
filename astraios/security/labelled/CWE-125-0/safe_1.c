#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    int table[4] = {10, 20, 30, 40};
    int slot;
    scanf("%d", &slot);
    if (slot >= 0 && slot < 4) {
        printf("%d\n", table[slot]);
    }
    return 0;
}
