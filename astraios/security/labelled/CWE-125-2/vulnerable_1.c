#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int value_at(int *values, int count, int position) {
    if (position >= count) {
        return -1;
    }
    return values[position];
}

int main(void) {
    int values[5] = {4, 8, 15, 16, 23};
    int position;
    scanf("%d", &position);
    return value_at(values, 5, position);
}
