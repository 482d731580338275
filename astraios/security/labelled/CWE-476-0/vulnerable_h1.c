#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char name[100];
    int status;
} person;

int main(int argc, char *argv[]) {
    person *p = (person *)malloc(sizeof(person));
    p->status = 0;
    strcpy(p->name, "John");
    printf("%s %d\n", p->name, p->status);
    free(p);
    return 0;
}
