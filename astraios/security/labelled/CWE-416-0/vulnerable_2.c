#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node {
    int value;
    struct node *next;
};

int main(void) {
    struct node *item = malloc(sizeof(struct node));
    if (!item) {
        return 1;
    }
    item->value = 1;
    free(item);
    item->value = 3;
    return 0;
}
