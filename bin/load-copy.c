/* load-copy.c: the rows sent with COPY in batches, and the rejects' replay. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "load.h"

/*
 * Bytes handed to PQputCopyData at once.  Well below the socket buffer
 * (about 200 KiB): a call returns only once its whole chunk is in the
 * socket, so a chunk larger than the buffer leaves the server idle while
 * the next one is made.  256 KiB chunks cost a third of the throughput.
 */
#define COPY_CHUNK (1 << 15)

static void
add_column_list(struct sa_buf *b)
{
	size_t i;

	if (ld.staging) {
		add_ident(b, ld.ord);
		if (ld.nactive > 0)
			sa_buf_adds(b, ", ");
	}
	for (i = 0; i < ld.nactive; i++) {
		if (i > 0)
			sa_buf_adds(b, ", ");
		add_ident(b, ld.cols[ld.active[i]].name);
	}
	if (ld.opt.inserted_at != NULL && !ld.staging) {
		if (ld.nactive > 0)
			sa_buf_adds(b, ", ");
		add_ident(b, ld.opt.inserted_at);
	}
}

static int format_row(struct sa_buf *, const char *, size_t);

/* Can the COPY about to begin be binary?  Sets each column's kind. */
static int
binary_columns(void)
{
	const struct column *c;
	size_t i;
	int k;

	if (ld.text_only || ld.part.nforeign > 0)
		return 0;
	for (i = 0; i < ld.nactive; i++) {
		c = &ld.cols[ld.active[i]];
		k = ld.staging ? bin_kind_of(c->stype) : bin_kind(c->typname);
		if (k == BIN_NONE)
			return 0;
		ld.bkind[i] = k;
	}
	if (ld.stamp != NULL && !ld.staging) {
		k = find_tcol(ld.opt.inserted_at);
		if (k < 0 || strcmp(ld.tcols[k].typname, "timestamptz") != 0)
			return 0;
	}
	return 1;
}

/* Begins a COPY, binary if its columns and its first row R of LEN bytes
 * (or NULL) allow it. */
static void
copy_begin(const char *r, size_t len)
{
	static struct sa_buf trial;
	struct sa_buf sql = { 0 };
	PGresult *res;
	size_t i;

	ld.nactive = 0;
	ld.active = xrealloc(ld.active, (ld.ncols + 1) * sizeof(*ld.active));
	ld.slot = xrealloc(ld.slot, (ld.ncols + 1) * sizeof(*ld.slot));
	ld.slotlen = xrealloc(ld.slotlen, (ld.ncols + 1) * sizeof(*ld.slotlen));
	ld.bkind = xrealloc(ld.bkind, ld.ncols + 1);
	for (i = 0; i < ld.ncols; i++) {
		ld.cols[i].active = ld.staging ?
		    ld.cols[i].staged && ld.cols[i].used :
		    ld.cols[i].used && ld.cols[i].intable;
		if (ld.cols[i].active)
			ld.active[ld.nactive++] = i;
		ld.slot[i] = NULL;
	}
	ld.copying = 1;
	ld.batch_n = ld.batch_bytes = 0;
	/* COPY needs a column; rows of no field ({}) are inserted with
	 * their number at the end. */
	if (ld.nactive == 0 && (ld.stamp == NULL || ld.staging)) {
		ld.counting = 1;
		ld.binary = 0;
		return;
	}
	if (ld.batchf != NULL && !ld.replaying) {
		rewind(ld.batchf);
		if (ftruncate(fileno(ld.batchf), 0) != 0)
			sa_die_errno(EX_IOERR, "temporary file");
		ld.nskip = 0;
		run_ok("SAVEPOINT sa_load_batch");
	}
	sa_buf_adds(&sql, "COPY ");
	sa_buf_adds(&sql, ld.copy_target);
	sa_buf_adds(&sql, " (");
	add_column_list(&sql);
	/* A batch sent again goes as text: its columns may have changed
	 * since (a column a row brought), and text holds any value. */
	if (ld.replaying)
		ld.binary = 0;
	else {
		ld.binary = binary_columns();
		sa_buf_reset(&trial);
		if (ld.binary && r != NULL && !format_row(&trial, r, len))
			ld.binary = 0, ld.text_only = 1;
		ld.nstaged -= ld.binary && r != NULL && ld.staging;
	}
	sa_buf_adds(&sql, ld.binary ? ") FROM STDIN (FORMAT binary)" :
	    ") FROM STDIN");
	res = PQexec(ld.conn, sql.s);
	if (PQresultStatus(res) != PGRES_COPY_IN)
		db_fail(res, ld.shown.s);
	PQclear(res);
	sa_buf_free(&sql);
	if (ld.binary)
		bin_header(&ld.out);
}

static void
copy_send(void)
{
	if (ld.counting)
		sa_buf_reset(&ld.out);
	if (ld.out.len > 0 && PQputCopyData(ld.conn, ld.out.s, ld.out.len) != 1)
		db_fail(NULL, ld.shown.s);
	sa_buf_reset(&ld.out);
}

static void replay(void);

static void
batch_rewind(void)
{
	rewind(ld.batchf);
	ld.batch_i = ld.batch_k = 0;
}

/* Reads the next row of BATCHF that was not rejected into R; returns 0
 * at its end.  Its index in the batch is then batch_i - 1. */
static int
batch_row(struct sa_buf *r)
{
	uint32_t len;

	for (;;) {
		if (fread(&len, 4, 1, ld.batchf) != 1)
			return 0;
		sa_buf_reset(r);
		sa_buf_grow(r, len);
		if (fread(r->s, 1, len, ld.batchf) != len)
			sa_die(EX_IOERR, "temporary file: short read");
		r->len = len;
		if (ld.batch_k < ld.nskip &&
		    ld.skip[ld.batch_k] == ld.batch_i) {
			ld.batch_i++;
			ld.batch_k++;
			continue;
		}
		ld.batch_i++;
		return 1;
	}
}

/* The server refused line N of the COPY just sent: that row goes to the
 * rejects with the server's message MSG. */
static void
reject_row(uintmax_t n, const char *msg)
{
	struct sa_buf r = { 0 };
	uintmax_t i, sent = 0;
	uint64_t line;
	uint32_t file, ci, flen;
	const char *p, *json = NULL;
	size_t k, jsonlen = 0;

	batch_rewind();
	while (sent < n && batch_row(&r))
		sent++;
	i = ld.batch_i - 1;
	if (sent != n)
		sa_die(EX_SOFTWARE, "%s: the server refused line %ju of %ju",
		    ld.shown.s, n, sent);
	memcpy(&file, r.s, 4);
	memcpy(&line, r.s + 4, 8);
	for (p = r.s + 12; p < r.s + r.len; p += 8 + flen) {
		memcpy(&ci, p, 4);
		memcpy(&flen, p + 4, 4);
		if (ci == RECORD) {
			json = p + 8;
			jsonlen = flen;
		}
	}
	sa_reject(ld.files[file], line, json, jsonlen, NULL, "%s", msg);
	ld.rows_loaded--;
	/* Sent again after a change of the table, it is passed over. */
	if (ld.nrefused == ld.refcap) {
		ld.refcap = ld.refcap ? ld.refcap * 2 : 16;
		ld.refused = xrealloc(ld.refused, ld.refcap *
		    sizeof(*ld.refused));
	}
	ld.refused[ld.nrefused].file = file;
	ld.refused[ld.nrefused++].line = line;
	if (ld.nskip == ld.skipcap) {
		ld.skipcap = ld.skipcap ? ld.skipcap * 2 : 16;
		ld.skip = xrealloc(ld.skip, ld.skipcap * sizeof(*ld.skip));
	}
	/* Rows are refused in the order they are sent, so SKIP stays
	 * sorted; insert in place all the same. */
	for (k = ld.nskip++; k > 0 && ld.skip[k - 1] > i; k--)
		ld.skip[k] = ld.skip[k - 1];
	ld.skip[k] = i;
	sa_buf_free(&r);
	fseek(ld.batchf, 0, SEEK_END);
}

/* Ends a COPY.  A row the server refused is reported with its file and
 * line, or with --rejects goes there while the rest of its batch is sent
 * again. */
void
copy_end(void)
{
	static struct sa_buf where, sql;
	PGresult *res;
	const char *ctx, *p, *state;
	unsigned long n;
	char *msg;

	if (ld.binary && !ld.counting)
		bin_trailer(&ld.out);
	copy_send();
	ld.copying = 0;
	if (ld.counting) {
		ld.counting = 0;
		sa_buf_reset(&sql);
		sa_buf_adds(&sql, "INSERT INTO ");
		sa_buf_adds(&sql, ld.copy_target);
		sa_buf_grow(&sql, 64);
		sql.len += snprintf(sql.s + sql.len, 64,
		    " SELECT FROM generate_series(1, %ju)", ld.batch_n);
		run_ok(sql.s);
		return;
	}
	if (PQputCopyEnd(ld.conn, NULL) != 1)
		db_fail(NULL, ld.shown.s);
	while ((res = PQgetResult(ld.conn)) != NULL) {
		if (PQresultStatus(res) == PGRES_COMMAND_OK) {
			PQclear(res);
			continue;
		}
		/* Only data exceptions (22) and broken constraints (23)
		 * are the row's fault. */
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		ctx = PQresultErrorField(res, PG_DIAG_CONTEXT);
		p = ctx && state && (strncmp(state, "22", 2) == 0 ||
		    strncmp(state, "23", 2) == 0) ? strstr(ctx, ", line ") :
		    NULL;
		/* Bad binary data or a wrong count of fields would be
		 * sa-load's fault, never the row's. */
		if (p == NULL || sscanf(p, ", line %lu", &n) != 1 || n < 1 ||
		    n > ld.batch_n || (ld.binary &&
		    (strcmp(state, "22P03") == 0 || strcmp(state, "22P04") == 0)))
			db_fail(res, ld.shown.s);
		if (ld.batchf != NULL) {
			msg = one_line(PQresultErrorField(res,
			    PG_DIAG_MESSAGE_PRIMARY));
			PQclear(res);
			while ((res = PQgetResult(ld.conn)) != NULL)
				PQclear(res);
			run_ok("ROLLBACK TO SAVEPOINT sa_load_batch");
			reject_row(n, msg);
			free(msg);
			replay();
			return;
		}
		if (n > ld.origcap)
			db_fail(res, ld.shown.s);
		sa_buf_adds(&where, ld.files[ld.origins[n - 1].file]);
		sa_buf_grow(&where, 32);
		where.len += snprintf(where.s + where.len, 32, ":%ju",
		    (uintmax_t)ld.origins[n - 1].line);
		db_fail(res, where.s);
	}
	if (ld.batchf != NULL)
		run_ok("RELEASE SAVEPOINT sa_load_batch");
}

/* Sends the rows of the batch again, but those rejected. */
static void
replay(void)
{
	struct sa_buf r = { 0 };

	ld.replaying = 1;
	copy_begin(NULL, 0);
	batch_rewind();
	while (batch_row(&r)) {
		format_row(&ld.out, r.s, r.len);
		if (ld.out.len >= COPY_CHUNK)
			copy_send();
		ld.batch_n++;
	}
	sa_buf_free(&r);
	fseek(ld.batchf, 0, SEEK_END);
	ld.replaying = 0;
	copy_end();
}

/* Appends the COPY line of the encoded row at R (after its length) of
 * LEN bytes to OUT, as text or binary as the COPY is; returns 0, having
 * appended nothing, if the COPY is binary and a value has no binary form. */
static int
format_row(struct sa_buf *out, const char *r, size_t len)
{
	const char *p = r + 12, *end = r + len;
	uint32_t ci, flen;
	size_t i, start = out->len;

	for (; p < end; p += 8 + flen) {
		memcpy(&ci, p, 4);
		memcpy(&flen, p + 4, 4);
		if (ci == RECORD)
			continue;
		ld.slot[ci] = p + 8;
		ld.slotlen[ci] = flen;
	}
	if (ld.binary) {
		bin_put_count(out, ld.nactive + ld.staging +
		    (ld.stamp != NULL && !ld.staging));
		if (ld.staging)
			bin_put_int8(out, ++ld.nstaged);
	} else {
		sa_buf_grow(out, len + ld.nactive * 3 + 64);
		if (ld.staging) {
			/* The row's number: the last row of a key wins. */
			out->len += snprintf(out->s + out->len, 24,
			    "%ju", ++ld.nstaged);
			if (ld.nactive > 0)
				out->s[out->len++] = '\t';
		}
	}
	for (i = 0; i < ld.nactive; i++) {
		ci = ld.active[i];
		if (ld.binary) {
			if (ld.slot[ci] == NULL)
				bin_put_null(out);
			else if (!bin_put(out, ld.bkind[i], ld.slot[ci],
			    ld.slotlen[ci]))
				goto text;
		} else {
			if (i > 0)
				sa_buf_addc(out, '\t');
			if (ld.slot[ci] != NULL)
				sa_copy_escape(out, ld.slot[ci],
				    ld.slotlen[ci]);
			else
				sa_buf_add(out, "\\N", 2);
		}
		ld.slot[ci] = NULL;
	}
	if (ld.stamp != NULL && !ld.staging) {
		if (ld.binary) {
			bin_put_raw(out, ld.stamp_bin, 8);
		} else {
			if (ld.nactive > 0)
				sa_buf_addc(out, '\t');
			sa_buf_adds(out, ld.stamp);
		}
	}
	if (!ld.binary)
		sa_buf_addc(out, '\n');
	return 1;
text:
	for (; i < ld.nactive; i++)
		ld.slot[ld.active[i]] = NULL;
	out->len = start;
	ld.nstaged -= ld.staging;
	return 0;
}

/* Sends the encoded row at R (after its length) of LEN bytes. */
static void
emit(const char *r, size_t len)
{
	uint32_t len32 = len;

	if (!ld.copying)
		copy_begin(r, len);
	if (!format_row(&ld.out, r, len)) {
		/* A value with no binary form: the COPY so far is ended, and
		 * the rest of the load goes as text. */
		ld.text_only = 1;
		copy_end();
		copy_begin(NULL, 0);
		format_row(&ld.out, r, len);
	}
	if (ld.out.len >= COPY_CHUNK)
		copy_send();
	if (ld.batch_n < 1 << 20) {
		if (ld.batch_n == ld.origcap) {
			ld.origcap = ld.origcap ? ld.origcap * 2 : 1024;
			ld.origins = xrealloc(ld.origins, ld.origcap *
			    sizeof(*ld.origins));
		}
		memcpy(&ld.origins[ld.batch_n].file, r, 4);
		memcpy(&ld.origins[ld.batch_n].line, r + 4, 8);
	}
	if (ld.batchf != NULL && (fwrite(&len32, 4, 1, ld.batchf) != 1 ||
	    fwrite(r, 1, len, ld.batchf) != len))
		sa_die_errno(EX_IOERR, "temporary file");
	ld.batch_n++;
	ld.batch_bytes += len;
	if (ld.batch_n == (uintmax_t)ld.opt.batch_rows ||
	    ld.batch_bytes >= ld.opt.batch_bytes)
		copy_end();
}

/* Does the row just read go into the table as it is, and if IN_COPY
 * into the COPY in progress too?  A row that fits the table but not the
 * COPY brings a column of the table that the rows before it lacked: only
 * the COPY's columns have to change. */
static int
fits(int in_copy)
{
	struct column *c;
	size_t i;

	for (i = 0; i < ld.nrf; i++) {
		c = &ld.cols[ld.rf[i].col];
		if (ld.rf[i].type == LD_NONE)
			continue;
		if ((in_copy && !c->active) || (ld.staging ?
		    ld_join(c->stype, ld.rf[i].type) != c->stype :
		    !c->intable ||
		    ld_join(c->table, ld.rf[i].type) != c->table))
			return 0;
	}
	return 1;
}

/* Starts the transaction of the rows: the DDL the rows read so far need
 * runs before it, in its own, unless the table is new; --mode replace
 * deletes the old rows in it. */
void
begin_rows(void)
{
	if (ld.table_exists && !ld.created)
		change_table(1);
	run_ok("BEGIN");
	if (ld.opt.mode == REPLACE && ld.table_exists && !ld.created)
		delete_rows();
	if (!ld.table_exists || ld.created)
		evolve(1);
}

/* --mode replace: the old rows go in the row transaction, so that
 * readers see them until it commits (never TRUNCATE, which would make
 * them wait). */
void
delete_rows(void)
{
	struct sa_buf sql = { 0 };

	sa_buf_adds(&sql, "DELETE FROM ");
	sa_buf_adds(&sql, ld.target.s);
	run_ok(sql.s);
	sa_buf_free(&sql);
}

/* Sends the spooled rows but those the server refused before. */
static void
send_spool(void)
{
	struct sa_buf r = { 0 };
	struct origin o;
	uint32_t len;
	size_t k = 0;

	if (fflush(ld.spool) != 0)
		sa_die_errno(EX_IOERR, "temporary file");
	rewind(ld.spool);
	while (fread(&len, 4, 1, ld.spool) == 1) {
		sa_buf_reset(&r);
		sa_buf_grow(&r, len);
		if (fread(r.s, 1, len, ld.spool) != len)
			sa_die(EX_IOERR, "temporary file: short read");
		memcpy(&o.file, r.s, 4);
		memcpy(&o.line, r.s + 4, 8);
		if (k < ld.nrefused && ld.refused[k].file == o.file &&
		    ld.refused[k].line == o.line) {
			k++;
			continue;
		}
		emit(r.s, len);
	}
	sa_buf_free(&r);
	if (fseek(ld.spool, 0, SEEK_END) != 0)
		sa_die_errno(EX_IOERR, "temporary file");
}

/* A row needs a change of a table others can see, which cannot be made
 * while this transaction holds the table: the transaction is rolled
 * back, the table changed in a transaction of its own, and the rows sent
 * so far are sent again. */
static void
restart(void)
{
	PGresult *res;

	if (ld.copying && !ld.counting) {
		if (PQputCopyEnd(ld.conn, "the table changes") != 1)
			db_fail(NULL, ld.shown.s);
		while ((res = PQgetResult(ld.conn)) != NULL)
			PQclear(res);
	}
	ld.copying = ld.counting = 0;
	sa_buf_reset(&ld.out);
	run_ok("ROLLBACK");
	begin_rows();
	send_spool();
}

/* Sends the spooled rows; the rest of the input follows as it is read
 * (send_row()). */
void
send_rows(void)
{
	if (ld.opt.inserted_at != NULL) {
		/* In binary, text is its bytes. */
		PGresult *res = PQexecParams(ld.conn, "SELECT now(), now()::text",
		    0, NULL, NULL, NULL, NULL, 1);

		if (PQresultStatus(res) != PGRES_TUPLES_OK ||
		    PQgetlength(res, 0, 0) != 8)
			db_fail(res, ld.shown.s);
		memcpy(ld.stamp_bin, PQgetvalue(res, 0, 0), 8);
		ld.stamp = xstrndup(PQgetvalue(res, 0, 1),
		    PQgetlength(res, 0, 1));
		PQclear(res);
	}
	send_spool();
	if (!ld.keep) {
		fclose(ld.spool);
		ld.spool = NULL;
	}
}

/* Gives a table made without its primary key (key_later) the key now:
 * once the rows are in, or before a row whose key may repeat one sent
 * already, so that the server names the row that repeats it. */
void
key_now(void)
{
	struct sa_buf sql = { 0 };

	if (ld.copying)
		copy_end();
	sa_buf_adds(&sql, "ALTER TABLE ");
	sa_buf_adds(&sql, ld.target.s);
	sa_buf_adds(&sql, " ADD ");
	add_primary_key(&sql);
	run_ok(sql.s);
	sa_buf_free(&sql);
	ld.key_later = 0;
}

/* Sends the row just read, changing the table (or the staging table)
 * if it needs it. */
void
send_row(void)
{
	if (ld.opt.mode == REPLACE_KEYS && ld.key_later && ld.dup_keys)
		key_now();
	if (ld.opt.mode == UPSERT && !ld.staging && ld.dup_keys)
		to_stage();
	if (!fits(1)) {
		/* An upsert straight into a table others see moves its rows
		 * to the staging table, which blocks no one when it
		 * changes. */
		if (ld.opt.mode == UPSERT && !ld.staging && !ld.created)
			to_stage();
		if (ld.staging || ld.created) {
			if (ld.copying)
				copy_end();
			if (ld.staging)
				stage_columns(1);
			else
				evolve(1);
		} else if (fits(0)) {
			if (ld.copying)
				copy_end();
		} else
			restart();
	}
	emit(ld.row.s + 4, ld.row.len - 4);
	if (ld.keep && fwrite(ld.row.s, 1, ld.row.len, ld.spool) != ld.row.len)
		sa_die_errno(EX_IOERR, "temporary file");
}
