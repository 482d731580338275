#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void greet(FILE *in, FILE *out) {
    char name[256];
    fgets(name, sizeof(name), in);
    char page[1024];
    sprintf(page, "<html><body>Hello, %s</body></html>", name);
    fputs(page, out);
}

int main(void) {
    greet(stdin, stdout);
    return 0;
}
