#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char *argv[]) {
    char *word = argv[1];
    int last = (int)strlen(word) - 1;
    while (word[last] == ' ') {
        word[last] = '\0';
        last--;
    }
    puts(word);
    return 0;
}
