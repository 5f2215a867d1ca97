/* load-db.c: the connection, its statements, their errors, signals. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "load.h"

/* The exit status for an error of SQLSTATE STATE. */
static int
status_of(const char *state)
{
	if (state == NULL || strncmp(state, "08", 2) == 0 ||
	    strncmp(state, "57P", 3) == 0 || strncmp(state, "53", 2) == 0 ||
	    strcmp(state, "40P01") == 0)
		return EX_UNAVAILABLE;
	if (strncmp(state, "28", 2) == 0 || strcmp(state, "42501") == 0)
		return EX_NOPERM;
	if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0 ||
	    strncmp(state, "54", 2) == 0)
		return EX_DATAERR;
	if (strcmp(state, "42P10") == 0)
		return EX_USAGE;
	if (strcmp(state, "3F000") == 0)
		return EX_CANTCREAT;
	return EX_SOFTWARE;
}

/* Makes a one-line message of libpq's text. */
char *
one_line(const char *msg)
{
	char *s = xmalloc(2 * strlen(msg ? msg : "") + 1), *p, *q;

	for (p = (char *)(msg ? msg : ""), q = s; *p != '\0'; p++) {
		if (*p == '\n' || *p == '\t') {
			/* libpq's lines become sentences. */
			if (*p == '\n' && q > s && strchr(".:;?! ", q[-1]) == NULL)
				*q++ = '.';
			if (q > s && q[-1] != ' ')
				*q++ = ' ';
			continue;
		}
		*q++ = *p;
	}
	while (q > s && q[-1] == ' ')
		q--;
	*q = '\0';
	return s;
}

/* Reports a failed statement and exits; the server rolls the transaction
 * back when the connection closes. */
void __attribute__((noreturn))
db_fail(PGresult *res, const char *where)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) :
	    NULL;
	const char *detail = res ? PQresultErrorField(res,
	    PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) :
	    NULL;
	int status = status_of(state);
	char *msg = one_line(res && PQresultErrorField(res,
	    PG_DIAG_MESSAGE_PRIMARY) ? PQresultErrorField(res,
	    PG_DIAG_MESSAGE_PRIMARY) : PQerrorMessage(ld.conn));

	if (state != NULL && strcmp(state, "42P10") == 0)
		hint = "--mode upsert needs a primary key or unique index on "
		    "the -k columns";
	sa_note("%s: %s%s%s%s", where, msg, detail ? " (" : "",
	    detail ? detail : "", detail ? ")" : "");
	if (hint != NULL)
		sa_note("hint: %s", hint);
	free(msg);
	PQclear(res);
	PQfinish(ld.conn);
	exit(status);
}

PGresult *
run(const char *sql, int nparams, const char *const *params)
{
	PGresult *res = PQexecParams(ld.conn, sql, nparams, NULL, params, NULL,
	    NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		db_fail(res, ld.shown.s);
	return res;
}

void
run_ok(const char *sql)
{
	PQclear(run(sql, 0, NULL));
}

static void
notice(void *arg, const char *msg)
{
	char *m = one_line(msg);

	(void)arg;
	sa_warn("%s", m);
	free(m);
}

/* A signal ends the load: the statement in progress is cancelled, and
 * the transaction rolls back as the connection closes.  The handler is
 * installed even where the shell left SIGINT ignored (background jobs),
 * since an interrupted load must never commit. */
void
on_signal(int sig)
{
	char err[256];

	if (ld.cancel != NULL)
		PQcancel(ld.cancel, err, sizeof(err));
	signal(sig, SIG_DFL);
	raise(sig);
}

static int
auth_failed(const char *msg)
{
	return PQconnectionNeedsPassword(ld.conn) ||
	    strstr(msg, "authentication failed") != NULL ||
	    strstr(msg, "no pg_hba.conf entry") != NULL ||
	    (strstr(msg, "role \"") != NULL &&
	    strstr(msg, "does not exist") != NULL) ||
	    strstr(msg, "permission denied") != NULL;
}

void
db_connect(void)
{
	const char *kw[] = { "dbname", "fallback_application_name", NULL };
	const char *val[] = { ld.opt.conninfo, "sa-load", NULL };
	PQconninfoOption *o;
	static char *err, *msg;
	int tries = 0;

	/* As for psql, a -d without '=' or a URI prefix is a database
	 * name. */
	if (ld.opt.conninfo != NULL && (strchr(ld.opt.conninfo, '=') != NULL ||
	    strncmp(ld.opt.conninfo, "postgres://", 11) == 0 ||
	    strncmp(ld.opt.conninfo, "postgresql://", 13) == 0)) {
		if ((o = PQconninfoParse(ld.opt.conninfo, &err)) == NULL) {
			msg = one_line(err);
			sa_usage_error("-d: %s", msg);
		}
		PQconninfoFree(o);
	}
	/* A server that cannot be reached is tried 4 times in 3.5 s. */
	for (;;) {
		ld.conn = PQconnectdbParams(kw, val, 1);
		if (PQstatus(ld.conn) == CONNECTION_OK)
			break;
		free(msg);
		msg = one_line(PQerrorMessage(ld.conn));
		if (auth_failed(msg))
			sa_die(EX_NOPERM, "cannot connect to PostgreSQL: %s",
			    msg);
		if (++tries == 4)
			sa_die(EX_UNAVAILABLE, "cannot connect to PostgreSQL "
			    "(%d tries): %s", tries, msg);
		PQfinish(ld.conn);
		usleep(500000u << (tries - 1));
	}
	PQsetNoticeProcessor(ld.conn, notice, NULL);
	ld.cancel = PQgetCancel(ld.conn);
	if (PQsetClientEncoding(ld.conn, "UTF8") != 0)
		db_fail(NULL, "client_encoding");
	run_ok("SET client_min_messages = warning");
}
