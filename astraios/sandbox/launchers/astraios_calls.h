/* Calls between a judged C candidate and its tests (see astraios/sandbox/__init__.py): framing and
 * plain values, shared by the candidate's server (astraios_candidate.c, the generated dispatch)
 * and the tests' side (astraios_judge.c, the generated stubs; astraios.sandbox.c_calls).
 *
 * A message is a 4-byte big-endian length and that many bytes (at most ASTRAIOS_MAX_MESSAGE).
 * A call is the function's number then its arguments; a reply is the result, then the final
 * contents of its `char *` arguments (the tests copy them back, as if in one process). Values:
 * integers as 8 bytes (little-endian two's complement), floating point as an 8-byte double,
 * strings as a presence byte, a 4-byte length and the bytes. Reading checks every length against
 * the bytes left and flags a malformed message instead of reading past it. */
#ifndef ASTRAIOS_CALLS_H
#define ASTRAIOS_CALLS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ASTRAIOS_MAX_MESSAGE (64u << 20)

struct astraios_buffer { unsigned char *data; size_t size, capacity; };
struct astraios_reader { const unsigned char *data; size_t size, at; int bad; };

static void astraios_put(struct astraios_buffer *b, const void *bytes, size_t n) {
    if (b->size + n > b->capacity) {
        size_t capacity = b->capacity ? b->capacity : 256;
        while (capacity < b->size + n) capacity *= 2;
        unsigned char *grown = realloc(b->data, capacity);
        if (!grown) abort();
        b->data = grown;
        b->capacity = capacity;
    }
    memcpy(b->data + b->size, bytes, n);
    b->size += n;
}

static void astraios_put_int(struct astraios_buffer *b, int64_t value) {
    unsigned char bytes[8];
    for (int i = 0; i < 8; i++) bytes[i] = (unsigned char)((uint64_t)value >> (8 * i));
    astraios_put(b, bytes, 8);
}

static void astraios_put_double(struct astraios_buffer *b, double value) {
    int64_t bits;
    memcpy(&bits, &value, 8);
    astraios_put_int(b, bits);
}

static void astraios_put_string(struct astraios_buffer *b, const char *text) {
    unsigned char present = text != NULL;
    astraios_put(b, &present, 1);
    if (text) {
        uint32_t length = (uint32_t)strlen(text);
        unsigned char size[4] = {length >> 24, length >> 16, length >> 8, length};
        astraios_put(b, size, 4);
        astraios_put(b, text, length);
    }
}

static const unsigned char *astraios_take(struct astraios_reader *r, size_t n) {
    if (r->bad || n > r->size - r->at) {
        r->bad = 1;
        return NULL;
    }
    r->at += n;
    return r->data + r->at - n;
}

static int64_t astraios_get_int(struct astraios_reader *r) {
    const unsigned char *bytes = astraios_take(r, 8);
    uint64_t value = 0;
    for (int i = 0; bytes && i < 8; i++) value |= (uint64_t)bytes[i] << (8 * i);
    return (int64_t)value;
}

static double astraios_get_double(struct astraios_reader *r) {
    int64_t bits = astraios_get_int(r);
    double value;
    memcpy(&value, &bits, 8);
    return value;
}

/* A fresh NUL-terminated copy (the caller's to keep), or NULL for a null string. */
static char *astraios_get_string(struct astraios_reader *r) {
    const unsigned char *present = astraios_take(r, 1);
    if (!present || !*present) return NULL;
    const unsigned char *size = astraios_take(r, 4);
    size_t length = size ? (size_t)size[0] << 24 | (size_t)size[1] << 16 | (size_t)size[2] << 8 | size[3] : 0;
    const unsigned char *bytes = astraios_take(r, length);
    char *text = malloc(length + 1);
    if (!text) abort();
    if (bytes) memcpy(text, bytes, length);
    text[bytes ? length : 0] = '\0';
    return text;
}

/* Copy a string the other side changed back into `target` (at most its original length). An unchanged
   one is not written: `target` may be a string literal, in read-only memory. */
static void astraios_copy_back(struct astraios_reader *r, char *target) {
    char *changed = astraios_get_string(r);
    if (changed && target && strcmp(changed, target) != 0) {
        size_t room = strlen(target);
        size_t length = strlen(changed);
        memcpy(target, changed, (length < room ? length : room));
        target[length < room ? length : room] = '\0';
    }
    free(changed);
}

static int astraios_write_all(int fd, const unsigned char *data, size_t n) {
    while (n) {
        ssize_t written = write(fd, data, n);
        if (written <= 0) return -1;
        data += written;
        n -= (size_t)written;
    }
    return 0;
}

static int astraios_send(int fd, const struct astraios_buffer *b) {
    unsigned char size[4] = {b->size >> 24, b->size >> 16, b->size >> 8, b->size};
    if (b->size > ASTRAIOS_MAX_MESSAGE) return -1;
    return astraios_write_all(fd, size, 4) || astraios_write_all(fd, b->data, b->size) ? -1 : 0;
}

static int astraios_read_all(int fd, unsigned char *data, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t chunk = read(fd, data + got, n - got);
        if (chunk <= 0) return got == 0 && chunk == 0 ? 0 : -1;
        got += (size_t)chunk;
    }
    return 1;
}

/* 1: a message is in `b`; 0: end of input; -1: a broken or oversized message. */
static int astraios_receive(int fd, struct astraios_buffer *b) {
    unsigned char size[4];
    int status = astraios_read_all(fd, size, 4);
    if (status != 1) return status;
    size_t length = (size_t)size[0] << 24 | (size_t)size[1] << 16 | (size_t)size[2] << 8 | size[3];
    if (length > ASTRAIOS_MAX_MESSAGE) return -1;
    b->size = 0;
    if (length) {
        if (b->capacity < length) {
            unsigned char *grown = realloc(b->data, length);
            if (!grown) abort();
            b->data = grown;
            b->capacity = length;
        }
        if (astraios_read_all(fd, b->data, length) != 1) return -1;
    }
    b->size = length;
    return 1;
}

#endif
