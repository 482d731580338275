#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void html_escape(const char *in, char *out, size_t size) {
    size_t used = 0;
    for (; *in && used + 6 < size; in++) {
        const char *piece = *in == '<' ? "&lt;" : *in == '>' ? "&gt;" : *in == '&' ? "&amp;" : NULL;
        if (piece) {
            strcpy(out + used, piece);
            used += strlen(piece);
        } else {
            out[used++] = *in;
        }
    }
    out[used] = '\0';
}

int main(void) {
    char query[200];
    char safe[1300];
    if (fgets(query, sizeof query, stdin) == NULL) {
        return 1;
    }
    html_escape(query, safe, sizeof safe);
    printf("<p>You searched for %s</p>\n", safe);
    return 0;
}
