#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *html_encode(const char *text);

void hello(FILE *request, FILE *response) {
    char who[128];
    fgets(who, sizeof(who), request);
    char *encoded = html_encode(who);
    fprintf(response, "<html><body>hello, %s</body></html>", encoded);
    free(encoded);
}
