#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    char query[200];
    if (fgets(query, sizeof query, stdin) == NULL) {
        return 1;
    }
    printf("<p>You searched for %s</p>\n", query);
    return 0;
}
