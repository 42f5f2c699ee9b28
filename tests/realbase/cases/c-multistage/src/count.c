#include <stdlib.h>
#include <string.h>
#include "count.h"

void table_add(struct table *t, const char *word) {
    for (size_t i = 0; i < t->len; i++)
        if (strcmp(t->w[i].text, word) == 0) { t->w[i].n++; return; }
    if (t->len == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->w = realloc(t->w, t->cap * sizeof *t->w);
        if (!t->w) abort();
    }
    t->w[t->len].text = strdup(word);
    t->w[t->len].n = 1;
    t->len++;
}

static int by_count(const void *a, const void *b) {
    const struct word *x = a, *y = b;
    if (x->n != y->n) return x->n < y->n ? 1 : -1;
    return strcmp(x->text, y->text);
}

void table_sort(struct table *t) { qsort(t->w, t->len, sizeof *t->w, by_count); }

void table_free(struct table *t) {
    for (size_t i = 0; i < t->len; i++) free(t->w[i].text);
    free(t->w);
}
