#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(void) {
    srand((unsigned)time(NULL));
    int ticket = rand() + 5000;
    printf("ticket %d\n", ticket);
    return 0;
}
