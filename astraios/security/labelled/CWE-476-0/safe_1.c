#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char owner[64];
    long balance;
} account;

int main(void) {
    account *acct = malloc(sizeof(account));
    if (acct == NULL) {
        return 1;
    }
    acct->balance = 0;
    strcpy(acct->owner, "nobody");
    printf("%ld\n", acct->balance);
    free(acct);
    return 0;
}
