#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char *argv[]) {
    char *colours[] = {"red", "green", "blue", "black"};
    int choice;
    printf("Enter an index: ");
    scanf("%d", &choice);
    printf("%s\n", colours[choice]);
    return 0;
}
