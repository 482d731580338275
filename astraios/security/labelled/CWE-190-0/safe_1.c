#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(void) {
    srand((unsigned)time(NULL));
    int ticket = 5000 + rand() % 1000;
    printf("ticket %d\n", ticket);
    return 0;
}
