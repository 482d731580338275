#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char *argv[]) {
    char *word = argv[1];
    for (int last = (int)strlen(word) - 1; last >= 0 && word[last] == ' '; last--) {
        word[last] = '\0';
    }
    puts(word);
    return 0;
}
