#ifndef COUNT_H
#define COUNT_H
#include <stddef.h>

struct word { char *text; size_t n; };
struct table { struct word *w; size_t len, cap; };

void table_add(struct table *t, const char *word);
void table_sort(struct table *t);
void table_free(struct table *t);
#endif
