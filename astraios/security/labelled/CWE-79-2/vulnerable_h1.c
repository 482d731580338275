#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hello(FILE *request, FILE *response) {
    char who[128];
    fgets(who, sizeof(who), request);
    fprintf(response, "<html><body>hello, %s</body></html>", who);
}
