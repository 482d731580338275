#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char owner[64];
    long balance;
} account;

int main(void) {
    account *acct = malloc(sizeof(account));
    acct->balance = 0;
    strcpy(acct->owner, "nobody");
    printf("%ld\n", acct->balance);
    free(acct);
    return 0;
}
