/*
 * load-infer.h: the column types sa-load infers, and how they widen.
 *
 * A type is a point in a small lattice: LD_NONE (only nulls seen) is
 * below everything, bigint widens to numeric, date to timestamptz, and
 * any other pair of different types meets in text.  LD_OTHER stands for
 * a column of an existing table whose type sa-load does not infer
 * (varchar, inet, ...): every value is left to the server to check.
 */
#ifndef LOAD_INFER_H
#define LOAD_INFER_H

#include <stddef.h>

enum ld_type {
	LD_NONE, LD_BOOL, LD_BIGINT, LD_NUMERIC, LD_DATE, LD_TIMESTAMPTZ,
	LD_UUID, LD_JSONB, LD_TEXT, LD_OTHER
};

/* The SQL name of type T (LD_NONE and LD_OTHER are created as text). */
const char *ld_type_sql(enum ld_type t);
/* The narrowest type that holds values of both A and B. */
enum ld_type ld_join(enum ld_type a, enum ld_type b);
/* N digits at S as a number, or -1. */
int ld_digits(const char *s, int n);
/* Reads YYYY-MM-DD at S into Y, M, D; returns 0 unless it is a real day
 * of a year from 1. */
int ld_ymd(const char *s, int *y, int *m, int *d);
/* The ISO 8601 zone S/LEN (Z, +HH, +HHMM or +HH:MM, hours to 15, as
 * PostgreSQL takes them) in seconds east of UTC, or -1. */
long ld_zone(const char *s, size_t len);
/* The type of a JSON number written as S: bigint if it is an integer
 * that fits in 64 bits, numeric otherwise. */
enum ld_type ld_number(const char *s, size_t len);
/* The type of a JSON string: date, timestamptz or uuid when S has that
 * form exactly, text otherwise. */
enum ld_type ld_string(const char *s, size_t len);
/* The type of a TSV field, where every value is text: also booleans
 * (true/false), numbers in JSON's grammar (so "00501" stays text) and
 * JSON objects or arrays. */
enum ld_type ld_tsv(const char *s, size_t len);
/* The type sa-load sees in an existing column of SQL type TYPNAME (as
 * pg_type.typname spells it). */
enum ld_type ld_from_pg(const char *typname);

#endif
