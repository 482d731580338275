#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    int table[4] = {10, 20, 30, 40};
    int slot;
    printf("slot: ");
    scanf("%d", &slot);
    printf("%d\n", table[slot]);
    return 0;
}
