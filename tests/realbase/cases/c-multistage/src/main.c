/* wordfreq: prints the most frequent words of its standard input. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "count.h"

static void count_stream(struct table *t, FILE *in) {
    char buf[256];
    size_t n = 0;
    int c;
    while ((c = fgetc(in)) != EOF) {
        if (isalnum(c) && n < sizeof buf - 1) {
            buf[n++] = (char)tolower(c);
        } else if (!isalnum(c) && n) {
            buf[n] = 0; table_add(t, buf); n = 0;
        }
    }
    if (n) { buf[n] = 0; table_add(t, buf); }
}

static int self_test(void) {
    struct table t = {0};
    const char *words[] = {"b", "a", "b", "c", "b", "a"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++) table_add(&t, words[i]);
    table_sort(&t);
    int ok = t.len == 3 && !strcmp(t.w[0].text, "b") && t.w[0].n == 3 && !strcmp(t.w[1].text, "a");
    table_free(&t);
    puts(ok ? "self-test ok" : "self-test FAILED");
    return ok ? 0 : 1;
}

int main(int argc, char **argv) {
    size_t top = 10;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--self-test")) return self_test();
        if (!strcmp(argv[i], "--top") && i + 1 < argc) top = strtoul(argv[++i], NULL, 10);
    }
    struct table t = {0};
    count_stream(&t, stdin);
    table_sort(&t);
    for (size_t i = 0; i < t.len && i < top; i++) printf("%7zu %s\n", t.w[i].n, t.w[i].text);
    table_free(&t);
    return 0;
}
