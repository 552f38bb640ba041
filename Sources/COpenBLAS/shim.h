#include <cblas.h>

#include <stddef.h>
/* LAPACK's symmetric eigensolver, which OpenBLAS exports (Fortran calling convention: every
   argument by pointer, then the hidden lengths of the two character arguments). */
void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
            double *work, const int *lwork, int *info, size_t jobz_length, size_t uplo_length);
