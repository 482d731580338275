#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *escape_markup(const char *text);

void greet(FILE *in, FILE *out) {
    char name[256];
    fgets(name, sizeof(name), in);
    char page[2048];
    snprintf(page, sizeof(page), "<html><body>Hello, %s</body></html>", escape_markup(name));
    fputs(page, out);
}
