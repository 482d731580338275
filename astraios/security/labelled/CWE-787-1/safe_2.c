#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    int source[10] = {0};
    int target[10];
    for (int i = 0; i < 10; i++) {
        target[i] = source[i];
    }
    return target[0];
}
