/*
 * submitq.c - group commit of uploads' documents and jobs (see submitq.h).
 */
#include "submitq.h"

#include "aegis/log.h"

#include <pthread.h>
#include <stdlib.h>

/* One caller of submitq_record, on its own stack while it waits. */
typedef struct submitq_wait {
	const submit_doc *doc;
	ag_err *err;
	ag_status st;
	bool done;
	struct submitq_wait *next;
} submitq_wait;

struct submitq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	submitq_wait *head, **tail; /* waiting, oldest first */
	bool leading;               /* a caller is recording a batch */
	int max;
	ag_db_pool *db;
	ag_histogram *sizes;
	const submit_doc **docs; /* the batch being recorded (leader only) */
	submitq_wait **batch;
};

static const double submitq_size_buckets[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};

void submitq_free(submitq *q)
{
	if (!q)
		return;
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	free(q->docs);
	free(q->batch);
	free(q);
}

ag_status submitq_new(submitq **out, ag_db_pool *db, int max, ag_metrics *metrics)
{
	*out = NULL;
	if (max < 1 || max > SUBMIT_BATCH_LIMIT)
		return AG_E_INVAL;
	submitq *q = calloc(1, sizeof *q);
	if (!q)
		return AG_E_NOMEM;
	/* PTHREAD_*_INITIALIZER defaults: nothing to fail, nothing to destroy on the error path */
	q->mu = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	q->cv = (pthread_cond_t)PTHREAD_COND_INITIALIZER;
	q->docs = calloc((size_t)max, sizeof *q->docs);
	q->batch = calloc((size_t)max, sizeof *q->batch);
	if (!q->docs || !q->batch) {
		submitq_free(q);
		return AG_E_NOMEM;
	}
	q->tail = &q->head;
	q->max = max;
	q->db = db;
	q->sizes = ag_metrics_histogram(
	        metrics, "aegis_upload_commit_batch_size",
	        "Uploads whose documents and jobs one PostgreSQL statement recorded (group commit)", NULL,
	        submitq_size_buckets, sizeof submitq_size_buckets / sizeof *submitq_size_buckets);
	*out = q;
	return AG_OK;
}

/* Record the batch (leader, without the lock): all in one statement, or one by one when that fails. */
static void submitq_run(submitq *q, int n)
{
	PGconn *c = NULL;
	ag_err err;
	bool each = false; /* recorded one by one: every waiter has its own outcome */
	ag_err_clear(&err);
	ag_status st = ag_db_acquire(q->db, &c, GATEWAY_DB_TIMEOUT_MS, &err);
	if (st == AG_OK) {
		for (int i = 0; i < n; i++)
			q->docs[i] = q->batch[i]->doc;
		st = submit_record_many(c, q->docs, n, &err);
		if (st != AG_OK && n > 1) {
			ag_log_info("recording %d uploads together failed (%s); recording them one by one", n, err.msg);
			for (int i = 0; i < n; i++)
				q->batch[i]->st = submit_record(c, q->batch[i]->doc, q->batch[i]->err);
			each = true;
		}
		ag_db_release(q->db, c);
	}
	if (!each) /* the batch's outcome, also when no connection could be had */
		for (int i = 0; i < n; i++) {
			q->batch[i]->st = st;
			if (st != AG_OK)
				*q->batch[i]->err = err;
		}
	if (q->sizes)
		ag_histogram_observe(q->sizes, n);
}

ag_status submitq_record(submitq *q, const submit_doc *d, ag_err *err)
{
	submitq_wait w = {.doc = d, .err = err};
	pthread_mutex_lock(&q->mu);
	*q->tail = &w;
	q->tail = &w.next;
	while (!w.done && q->leading)
		pthread_cond_wait(&q->cv, &q->mu);
	if (!w.done) { /* lead: record batches until ours is among them */
		q->leading = true;
		while (!w.done) {
			int n = 0;
			while (q->head && n < q->max) {
				q->batch[n++] = q->head;
				q->head = q->head->next;
			}
			if (!q->head)
				q->tail = &q->head;
			pthread_mutex_unlock(&q->mu);
			submitq_run(q, n);
			pthread_mutex_lock(&q->mu);
			for (int i = 0; i < n; i++)
				q->batch[i]->done = true;
			pthread_cond_broadcast(&q->cv);
		}
		q->leading = false;
		pthread_cond_broadcast(&q->cv); /* a waiter not in our batches leads the next */
	}
	pthread_mutex_unlock(&q->mu);
	return w.st;
}
