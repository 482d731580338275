#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char *argv[]) {
    char *colours[] = {"red", "green", "blue", "black"};
    int choice;
    printf("Enter an index: ");
    scanf("%d", &choice);
    if (choice < 0 || choice >= 4) {
        printf("invalid index\n");
        return 1;
    }
    printf("%s\n", colours[choice]);
    return 0;
}
