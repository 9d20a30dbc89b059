// SPDX-License-Identifier: GPL-2.0
/*
 * mmsb-replicate - copy a bus to other buses through a Redis stream.
 *
 *   --leader:   read the bus's change stream and append one Redis stream
 *               entry per tick (XADD KEY MAXLEN ~ M), with a snapshot
 *               stored beside it (KEY:snapshot) at the start, every S
 *               ticks and after an overflow;
 *   --follower: apply the entries to another bus tick by tick (libmmsb's
 *               replayer), record how far it got (KEY:follower:NAME),
 *               and resynchronise from the latest snapshot on any gap;
 *   --status:   the leader's tick, each follower's, and the lag.
 *
 * Redis keys (KEY is --key):
 *   KEY               the stream; entry id TICK-0, fields gen, tick,
 *                     prev (the tick of the entry before it, or of the
 *                     snapshot it follows), ns (CLOCK_REALTIME when
 *                     added), recs (the tick's raw stream records)
 *   KEY:generation    a counter: a new leader (or a leader that lost its
 *                     stream's continuity) takes the next value
 *   KEY:snapshot      the latest snapshot, Documentation/snapshot.rst's
 *                     format (its cut tick inside)
 *   KEY:leader        "GEN TICK NS": the leader's last entry
 *   KEY:follower:NAME "GEN TICK NS": what the follower applied last and
 *                     the leader's time of that entry
 *
 * Documentation/snapshot.rst, "Replication", says what each failure does;
 * man/mmsb-replicate.1 has the options.
 */
#include <errno.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libmmsb.h"

#define DEFAULT_MAXLEN		100000
#define DEFAULT_SNAP_EVERY	10000
#define READ_CHUNK		(1 << 20)

static struct {
	enum { NONE, LEADER, FOLLOWER, STATUS } mode;
	unsigned int bus;
	char host[256];
	int port;
	const char *key;
	const char *name;
	unsigned long long maxlen;
	unsigned long long snap_every;
	unsigned long long buffer;
	unsigned long long until;	/* follower: stop at this tick */
	int json;
} opt = {
	.host = "127.0.0.1",
	.port = 6379,
	.key = "mmsb",
	.name = "follower",
	.maxlen = DEFAULT_MAXLEN,
	.snap_every = DEFAULT_SNAP_EVERY,
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mmsb-replicate: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* A reply that must be there and not an error; dies otherwise. */
static redisReply *cmd(redisContext *c, const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	if (!r)
		die("redis %s:%d: %s", opt.host, opt.port,
		    c->errstr[0] ? c->errstr : "no reply");
	if (r->type == REDIS_REPLY_ERROR)
		die("redis: %s (%s)", r->str, fmt);
	return r;
}

/* The next reply of a pipeline, checked as cmd() checks one. */
static void reply(redisContext *c)
{
	redisReply *r = NULL;

	if (redisGetReply(c, (void **)&r) != REDIS_OK || !r)
		die("redis %s:%d: %s", opt.host, opt.port,
		    c->errstr[0] ? c->errstr : "no reply");
	if (r->type == REDIS_REPLY_ERROR)
		die("redis: %s", r->str);
	freeReplyObject(r);
}

static redisContext *redis_connect(void)
{
	redisContext *c = redisConnect(opt.host, opt.port);

	if (!c)
		die("redis %s:%d: out of memory", opt.host, opt.port);
	if (c->err)
		die("redis %s:%d: %s", opt.host, opt.port, c->errstr);
	return c;
}

/* GET KEY:suffix as a string (malloc'ed), or NULL when absent. */
static char *get_str(redisContext *c, const char *suffix, size_t *len)
{
	redisReply *r = cmd(c, "GET %s:%s", opt.key, suffix);
	char *s = NULL;

	if (r->type == REDIS_REPLY_STRING) {
		s = malloc(r->len + 1);
		if (!s)
			die("out of memory");
		memcpy(s, r->str, r->len);
		s[r->len] = '\0';
		if (len)
			*len = r->len;
	}
	freeReplyObject(r);
	return s;
}

/* SET KEY:suffix "A B C": one value, so one argument. */
static void set_triple(redisContext *c, const char *suffix, __u64 a, __u64 b,
		       __u64 n)
{
	char v[64];

	snprintf(v, sizeof(v), "%llu %llu %llu", (unsigned long long)a,
		 (unsigned long long)b, (unsigned long long)n);
	freeReplyObject(cmd(c, "SET %s:%s %s", opt.key, suffix, v));
}

/* ---- leader ----------------------------------------------------------- */

struct leader {
	redisContext *c;
	int fd, sfd;
	__u64 gen;
	__u64 prev;		/* tick of the last entry, or the snapshot's */
	__u64 cut;		/* records up to this tick are dropped */
	__u64 marker;		/* the last marker entry's tick */
	__u64 reported;		/* the tick KEY:leader has */
	int marked;		/* one was added */
	__u64 since_snap;	/* entries since that snapshot */
	__u64 entries, bytes, snapshots, overflows;
};

/*
 * Take and store a snapshot.  With @restart (the start, an overflow)
 * the entries go on from its cut: records of ticks up to it are
 * dropped and the next entry's prev is the cut, so that a follower at
 * an older tick sees the hole.  Without (every S entries) the entries
 * go on as they were: a follower starting from it finds the entry of
 * its cut's tick before the ones it reads.
 */
static void leader_snapshot(struct leader *l, int restart)
{
	struct mmsb_snap *s;
	size_t len;
	void *buf;
	int ret;

	ret = mmsb_snap_take(l->fd, &s);
	if (ret)
		die("snapshot of bus %u: %s", opt.bus, mmsb_strerror(ret));
	ret = mmsb_snap_encode(s, &buf, &len);
	if (ret)
		die("snapshot: %s", mmsb_strerror(ret));
	freeReplyObject(cmd(l->c, "SET %s:snapshot %b", opt.key, buf, len));
	fprintf(stderr, "mmsb-replicate: leader: snapshot at tick %llu, %llu pages, %zu bytes\n",
		(unsigned long long)s->tick, (unsigned long long)s->nr_pages,
		len);
	if (restart) {
		/*
		 * A marker entry TICK-1 (after any entry TICK-0) says the
		 * stream goes on from the cut: a follower at an older tick
		 * sees the hole even if no tick follows.  Another overflow
		 * before any tick has the same cut: its marker is there.
		 */
		l->prev = s->tick;
		l->cut = s->tick;
	}
	if (restart && (!l->marked || s->tick != l->marker)) {
		l->marked = 1;
		l->marker = s->tick;
		freeReplyObject(cmd(l->c,
				    "XADD %s MAXLEN ~ %llu %llu-1 gen %llu tick %llu prev %llu ns %llu recs %b",
				    opt.key, opt.maxlen,
				    (unsigned long long)s->tick,
				    (unsigned long long)l->gen,
				    (unsigned long long)s->tick,
				    (unsigned long long)s->tick,
				    (unsigned long long)now_ns(), "", (size_t)0));
	}
	/* The leader is at least where its snapshot is (--status). */
	if (s->tick > l->reported) {
		l->reported = s->tick;
		set_triple(l->c, "leader", l->gen, s->tick, now_ns());
	}
	l->since_snap = 0;
	l->snapshots++;
	free(buf);
	mmsb_snap_free(s);
}

/* One entry: the records of tick @tick, from the last entry's end. */
static void leader_add(struct leader *l, __u64 tick, const void *recs,
		       size_t len)
{
	__u64 ns = now_ns();

	char v[64];

	/* Both in one round trip. */
	snprintf(v, sizeof(v), "%llu %llu %llu", (unsigned long long)l->gen,
		 (unsigned long long)tick, (unsigned long long)ns);
	redisAppendCommand(l->c,
			   "XADD %s MAXLEN ~ %llu %llu-0 gen %llu tick %llu prev %llu ns %llu recs %b",
			   opt.key, opt.maxlen, (unsigned long long)tick,
			   (unsigned long long)l->gen,
			   (unsigned long long)tick,
			   (unsigned long long)l->prev,
			   (unsigned long long)ns, recs, len);
	/* A snapshot may have reported a later tick already. */
	if (tick > l->reported) {
		redisAppendCommand(l->c, "SET %s:leader %s", opt.key, v);
		reply(l->c);
		l->reported = tick;
	}
	reply(l->c);
	l->prev = tick;
	l->entries++;
	l->bytes += len;
	l->since_snap++;
}

/*
 * Cut the records read so far into ticks: each TICK record closes an
 * entry of the bytes since the previous one.  Records of ticks up to
 * the snapshot's cut are dropped (the snapshot has them), except the
 * structural ones of the cut itself, which the follower applies
 * idempotently.  Returns the bytes consumed.
 */
static size_t leader_cut(struct leader *l, char *buf, size_t have)
{
	const struct mmsb_stream_record *rec;
	size_t off = 0, start = 0, keep;
	int n;

	while ((n = mmsb_stream_next(buf, have, &off, &rec)) > 0) {
		switch (rec->type) {
		case MMSB_REC_OVERFLOW:
			/* Lost ticks: a new snapshot, and on from there. */
			l->overflows++;
			fprintf(stderr, "mmsb-replicate: leader: stream overflow at tick %llu\n",
				(unsigned long long)rec->tick);
			leader_snapshot(l, 1);
			start = off;
			break;
		case MMSB_REC_TICK:
			if (rec->tick <= l->cut) {
				start = off;
				break;
			}
			leader_add(l, rec->tick, buf + start, off - start);
			start = off;
			if (opt.snap_every && l->since_snap >= opt.snap_every)
				leader_snapshot(l, 0);
			break;
		default:
			/* Before the cut: dropped with its tick's records. */
			if (rec->type != MMSB_REC_DELTA &&
			    rec->type != MMSB_REC_PROPAGATED &&
			    rec->tick < l->cut && start == off - rec->size)
				start = off;
			break;
		}
	}
	if (n < 0 && n != -ENODATA)
		die("stream of bus %u: %s", opt.bus, mmsb_strerror(n));
	keep = have - start;
	memmove(buf, buf + start, keep);
	return start;
}

static int run_leader(void)
{
	struct leader l = { 0 };
	size_t cap = READ_CHUNK + MMSB_PAGE_DATA_OFFSET, have = 0;
	redisReply *r;
	char *buf;

	l.c = redis_connect();
	l.fd = mmsb_open_bus(opt.bus);
	if (l.fd < 0)
		die("bus %u: %s", opt.bus, mmsb_strerror(l.fd));
	/* The stream first, then the snapshot: no tick falls between. */
	l.sfd = mmsb_stream_open(l.fd, MMSB_STREAM_ALL, NULL, 0, opt.buffer,
				 NULL);
	if (l.sfd < 0)
		die("stream of bus %u: %s", opt.bus, mmsb_strerror(l.sfd));
	r = cmd(l.c, "INCR %s:generation", opt.key);
	l.gen = r->integer;
	freeReplyObject(r);
	/* A new generation's ticks may be lower: a fresh stream. */
	freeReplyObject(cmd(l.c, "DEL %s", opt.key));
	leader_snapshot(&l, 1);
	set_triple(l.c, "leader", l.gen, l.cut, now_ns());
	buf = malloc(cap);
	if (!buf)
		die("out of memory");
	while (!stop) {
		ssize_t got;

		if (cap - have < READ_CHUNK / 2) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				die("out of memory");
		}
		got = read(l.sfd, buf + have, cap - have);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			die("stream of bus %u: %s", opt.bus, strerror(errno));
		}
		have += got;
		have -= leader_cut(&l, buf, have);
	}
	if (opt.json)
		printf("{\"role\":\"leader\",\"generation\":%llu,\"tick\":%llu,\"entries\":%llu,\"bytes\":%llu,\"snapshots\":%llu,\"overflows\":%llu}\n",
		       (unsigned long long)l.gen, (unsigned long long)l.prev,
		       (unsigned long long)l.entries,
		       (unsigned long long)l.bytes,
		       (unsigned long long)l.snapshots,
		       (unsigned long long)l.overflows);
	else
		printf("leader: generation %llu, tick %llu, %llu entries, %llu bytes, %llu snapshots, %llu overflows\n",
		       (unsigned long long)l.gen, (unsigned long long)l.prev,
		       (unsigned long long)l.entries,
		       (unsigned long long)l.bytes,
		       (unsigned long long)l.snapshots,
		       (unsigned long long)l.overflows);
	free(buf);
	close(l.sfd);
	close(l.fd);
	redisFree(l.c);
	return 0;
}

/* ---- follower --------------------------------------------------------- */

struct follower {
	redisContext *c;
	int fd;
	struct mmsb_replayer *rp;
	__u64 gen;		/* the generation followed, 0: none yet */
	__u64 tick;		/* applied up to here */
	__u64 entry_ns;		/* the leader's time of that entry */
	__u64 entries, resyncs, gaps;
	__u64 lag_n, lag_sum_ns, lag_max_ns;
};

static void follower_save(struct follower *f)
{
	char suffix[300];

	snprintf(suffix, sizeof(suffix), "follower:%s", opt.name);
	set_triple(f->c, suffix, f->gen, f->tick, f->entry_ns);
}

static __u64 current_gen(redisContext *c)
{
	char *s = get_str(c, "generation", NULL);
	__u64 g = s ? strtoull(s, NULL, 10) : 0;

	free(s);
	return g;
}

/*
 * Start over from the latest snapshot: the bus made what it holds, the
 * position its cut.  A snapshot older than what the bus holds (the bus
 * is past it) cannot be applied: wait for a newer one.
 */
static void follower_resync(struct follower *f, const char *why)
{
	struct mmsb_snap *s;
	size_t len;
	char *buf;
	int ret;

	fprintf(stderr, "mmsb-replicate: follower %s: resynchronising after tick %llu: %s\n",
		opt.name, (unsigned long long)f->tick, why);
	for (;;) {
		if (stop)
			return;
		f->gen = current_gen(f->c);
		buf = get_str(f->c, "snapshot", &len);
		if (!buf) {
			/* No leader yet. */
			usleep(100000);
			continue;
		}
		ret = mmsb_snap_decode(buf, len, &s);
		free(buf);
		if (ret)
			die("%s:snapshot: %s", opt.key, mmsb_strerror(ret));
		ret = mmsb_snap_apply(f->fd, s);
		if (ret == -ESTALE) {
			mmsb_snap_free(s);
			usleep(100000);
			continue;
		}
		if (ret)
			die("follower %s: applying the snapshot of tick %llu to bus %u: %s",
			    opt.name, (unsigned long long)s->tick, opt.bus,
			    mmsb_strerror(ret));
		break;
	}
	f->tick = s->tick;
	f->entry_ns = s->created_ns;
	mmsb_replayer_reset(f->rp, f->tick);
	mmsb_snap_free(s);
	f->resyncs++;
	follower_save(f);
}

/* A field of an XREAD entry's field/value array, or NULL. */
static redisReply *field(redisReply *kv, const char *name)
{
	size_t i;

	for (i = 0; i + 1 < kv->elements; i += 2)
		if (kv->element[i]->type == REDIS_REPLY_STRING &&
		    !strcmp(kv->element[i]->str, name))
			return kv->element[i + 1];
	return NULL;
}

static __u64 num(redisReply *r)
{
	return r && r->type == REDIS_REPLY_STRING ?
		strtoull(r->str, NULL, 10) : 0;
}

/* Apply one entry; 0, or 1 when the follower had to resynchronise. */
static int follower_entry(struct follower *f, redisReply *kv)
{
	redisReply *recs = field(kv, "recs");
	__u64 gen = num(field(kv, "gen")), tick = num(field(kv, "tick"));
	__u64 prev = num(field(kv, "prev")), ns = num(field(kv, "ns"));
	__u64 lag;
	int ret;

	if (!recs || recs->type != REDIS_REPLY_STRING)
		die("%s: malformed entry", opt.key);
	if (gen != f->gen) {
		follower_resync(f, "a new leader generation");
		return 1;
	}
	/*
	 * Never out of order, never across a hole: the entry must follow
	 * a tick the bus has.  (After a start from a snapshot whose cut is
	 * between two entries, the first one follows an older tick.)
	 */
	if (prev > f->tick) {
		char why[128];

		f->gaps++;
		snprintf(why, sizeof(why),
			 "gap: the next entry follows tick %llu",
			 (unsigned long long)prev);
		follower_resync(f, why);
		return 1;
	}
	/* A marker (a snapshot's cut, no record) moves nothing. */
	ret = recs->len ? mmsb_replayer_feed(f->rp, recs->str, recs->len,
					     UINT64_MAX, NULL) : 0;
	if (ret == -EBADE || ret == -EPIPE) {
		follower_resync(f, mmsb_strerror(ret));
		return 1;
	}
	if (ret)
		die("follower %s: tick %llu: %s", opt.name,
		    (unsigned long long)tick, mmsb_strerror(ret));
	f->tick = tick;
	f->entry_ns = ns;
	f->entries++;
	lag = now_ns() - ns;
	if ((__s64)lag > 0) {
		f->lag_n++;
		f->lag_sum_ns += lag;
		if (lag > f->lag_max_ns)
			f->lag_max_ns = lag;
	}
	follower_save(f);
	return 0;
}

static int run_follower(void)
{
	struct follower f = { 0 };
	int ret;

	f.c = redis_connect();
	f.fd = mmsb_open_bus(opt.bus);
	if (f.fd < 0)
		die("bus %u: %s", opt.bus, mmsb_strerror(f.fd));
	ret = mmsb_replayer_new(f.fd, 0, &f.rp);
	if (ret)
		die("%s", mmsb_strerror(ret));
	{
		redisReply *r = cmd(f.c, "GET %s:follower:%s", opt.key,
				    opt.name);
		unsigned long long g, t, ns;

		if (r->type == REDIS_REPLY_STRING &&
		    sscanf(r->str, "%llu %llu %llu", &g, &t, &ns) == 3) {
			f.gen = g;
			f.tick = t;
			f.entry_ns = ns;
			mmsb_replayer_reset(f.rp, t);
			fprintf(stderr, "mmsb-replicate: follower %s: resuming after tick %llu\n",
				opt.name, t);
		}
		freeReplyObject(r);
	}
	if (!f.gen || f.gen != current_gen(f.c))
		follower_resync(&f, f.gen ? "a new leader generation" :
				"no position recorded");
	while (!stop && (!opt.until || f.tick < opt.until)) {
		redisReply *r, *entries;
		size_t i;

		/*
		 * After TICK-1: entry TICK-0 and the marker TICK-1 of a
		 * snapshot at TICK are behind the follower.
		 */
		r = cmd(f.c, "XREAD COUNT 256 BLOCK 200 STREAMS %s %llu-1",
			opt.key, (unsigned long long)f.tick);
		if (r->type != REDIS_REPLY_ARRAY || !r->elements) {
			freeReplyObject(r);
			/* Nothing new: is there a new leader? */
			if (current_gen(f.c) != f.gen)
				follower_resync(&f, "a new leader generation");
			continue;
		}
		entries = r->element[0]->element[1];
		for (i = 0; i < entries->elements && !stop; i++)
			if (follower_entry(&f, entries->element[i]->element[1]))
				break;
		freeReplyObject(r);
	}
	if (opt.json)
		printf("{\"role\":\"follower\",\"name\":\"%s\",\"tick\":%llu,\"entries\":%llu,\"resyncs\":%llu,\"gaps\":%llu,\"lag_mean_ms\":%.3f,\"lag_max_ms\":%.3f}\n",
		       opt.name, (unsigned long long)f.tick,
		       (unsigned long long)f.entries,
		       (unsigned long long)f.resyncs,
		       (unsigned long long)f.gaps,
		       f.lag_n ? f.lag_sum_ns / 1e6 / f.lag_n : 0.0,
		       f.lag_max_ns / 1e6);
	else
		printf("follower %s: tick %llu, %llu entries, %llu resyncs, %llu gaps, lag mean %.3f ms, max %.3f ms\n",
		       opt.name, (unsigned long long)f.tick,
		       (unsigned long long)f.entries,
		       (unsigned long long)f.resyncs,
		       (unsigned long long)f.gaps,
		       f.lag_n ? f.lag_sum_ns / 1e6 / f.lag_n : 0.0,
		       f.lag_max_ns / 1e6);
	mmsb_replayer_free(f.rp);
	close(f.fd);
	redisFree(f.c);
	return 0;
}

/* ---- status ------------------------------------------------------------ */

static int run_status(void)
{
	redisContext *c = redis_connect();
	unsigned long long lgen = 0, ltick = 0, lns = 0;
	redisReply *keys;
	char *s = get_str(c, "leader", NULL);
	const char *sep = "";
	__u64 now = now_ns();
	size_t i, plen;
	char pat[300];

	if (!s || sscanf(s, "%llu %llu %llu", &lgen, &ltick, &lns) != 3)
		die("no leader has written %s:leader", opt.key);
	free(s);
	if (opt.json)
		printf("{\"key\":\"%s\",\"leader\":{\"generation\":%llu,\"tick\":%llu,\"age_seconds\":%.3f},\"followers\":[",
		       opt.key, lgen, ltick, (now - lns) / 1e9);
	else
		printf("leader generation %llu tick %llu\n", lgen, ltick);
	snprintf(pat, sizeof(pat), "%s:follower:*", opt.key);
	plen = strlen(pat) - 1;
	keys = cmd(c, "KEYS %s", pat);
	for (i = 0; i < keys->elements; i++) {
		unsigned long long g, t, ns;
		double lag_s = 0;
		long long lag_t;
		redisReply *r;

		r = cmd(c, "GET %s", keys->element[i]->str);
		if (r->type != REDIS_REPLY_STRING ||
		    sscanf(r->str, "%llu %llu %llu", &g, &t, &ns) != 3) {
			freeReplyObject(r);
			continue;
		}
		freeReplyObject(r);
		/*
		 * A follower that just took a snapshot may be ahead of the
		 * leader's key for a moment: no lag.
		 */
		lag_t = g != lgen ? -1 : t >= ltick ? 0 : (long long)(ltick - t);
		if (lag_t > 0) {
			/* Since the oldest entry it has not applied was added. */
			r = cmd(c, "XRANGE %s (%llu-1 + COUNT 1", opt.key, t);
			if (r->type == REDIS_REPLY_ARRAY && r->elements)
				lag_s = (now - num(field(r->element[0]->element[1],
							  "ns"))) / 1e9;
			else
				lag_s = (now - ns) / 1e9;
			freeReplyObject(r);
		}
		if (opt.json)
			printf("%s{\"name\":\"%s\",\"generation\":%llu,\"tick\":%llu,\"lag_ticks\":%lld,\"lag_seconds\":%.6f}",
			       sep, keys->element[i]->str + plen, g, t, lag_t,
			       lag_s);
		else
			printf("follower %s tick %llu lag_ticks %lld lag_seconds %.6f\n",
			       keys->element[i]->str + plen, t, lag_t, lag_s);
		sep = ",";
	}
	if (opt.json)
		printf("]}\n");
	freeReplyObject(keys);
	redisFree(c);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mmsb-replicate --leader [--bus N] [--redis HOST:PORT] [--key K]\n"
		"                      [--maxlen M] [--snapshot-every S] [--buffer BYTES]\n"
		"       mmsb-replicate --follower [--bus N] [--redis HOST:PORT] [--key K]\n"
		"                      [--name NAME] [--until TICK]\n"
		"       mmsb-replicate --status [--json] [--redis HOST:PORT] [--key K]\n");
}

static unsigned long long parse_num(const char *s, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-')
		die("%s: not a number: %s", what, s);
	return v;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "leader", no_argument, NULL, 'L' },
		{ "follower", no_argument, NULL, 'F' },
		{ "status", no_argument, NULL, 'S' },
		{ "bus", required_argument, NULL, 'b' },
		{ "redis", required_argument, NULL, 'r' },
		{ "key", required_argument, NULL, 'k' },
		{ "name", required_argument, NULL, 'n' },
		{ "maxlen", required_argument, NULL, 'm' },
		{ "snapshot-every", required_argument, NULL, 's' },
		{ "buffer", required_argument, NULL, 'B' },
		{ "until", required_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct sigaction sa = { .sa_handler = on_signal };
	char *colon;
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'L': case 'F': case 'S':
			if (opt.mode != NONE) {
				usage(stderr);
				return 2;
			}
			opt.mode = c == 'L' ? LEADER : c == 'F' ? FOLLOWER :
				   STATUS;
			break;
		case 'b':
			opt.bus = parse_num(optarg, "--bus");
			break;
		case 'r':
			colon = strrchr(optarg, ':');
			if (!colon || colon == optarg ||
			    (size_t)(colon - optarg) >= sizeof(opt.host))
				die("--redis: HOST:PORT expected: %s", optarg);
			memcpy(opt.host, optarg, colon - optarg);
			opt.host[colon - optarg] = '\0';
			opt.port = parse_num(colon + 1, "--redis port");
			if (!opt.port || opt.port > 65535)
				die("--redis: bad port %s", colon + 1);
			break;
		case 'k':
			if (!*optarg || strchr(optarg, ' '))
				die("--key: empty or with a space");
			opt.key = optarg;
			break;
		case 'n':
			if (!*optarg || strchr(optarg, ' ') ||
			    strchr(optarg, ':'))
				die("--name: empty, or with a space or ':'");
			opt.name = optarg;
			break;
		case 'm':
			opt.maxlen = parse_num(optarg, "--maxlen");
			break;
		case 's':
			opt.snap_every = parse_num(optarg, "--snapshot-every");
			break;
		case 'B':
			opt.buffer = parse_num(optarg, "--buffer");
			if (opt.buffer > MMSB_STREAM_BUFFER_MAX)
				die("--buffer: at most %u", MMSB_STREAM_BUFFER_MAX);
			break;
		case 'u':
			opt.until = parse_num(optarg, "--until");
			break;
		case 'j':
			opt.json = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || opt.mode == NONE) {
		usage(stderr);
		return 2;
	}
	/*
	 * A follower that falls behind by more than the stream keeps
	 * starts from the snapshot: it must be newer than the oldest
	 * entry kept.
	 */
	if (opt.maxlen < 2 || (opt.snap_every && opt.snap_every > opt.maxlen / 2))
		die("--snapshot-every (%llu) must be at most half of --maxlen (%llu)",
		    opt.snap_every, opt.maxlen);
	/* No SA_RESTART: a blocked read returns EINTR on a signal. */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	switch (opt.mode) {
	case LEADER:
		return run_leader();
	case FOLLOWER:
		return run_follower();
	default:
		return run_status();
	}
}
