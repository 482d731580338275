#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    const char *greeting = "Hi there";
    char buffer[128];
    memcpy(buffer, greeting, strlen(greeting) + 1);
    printf("%s\n", buffer);
    return 0;
}
