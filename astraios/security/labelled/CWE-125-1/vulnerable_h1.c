#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define SIZE 10
int ids[SIZE];

int getId(int index) {
    if (index < SIZE) {
        return ids[index];
    }
    return -1;
}

int main(void) {
    int index;
    scanf("%d", &index);
    return getId(index);
}
