/*
 * engine.c - one libuv loop in its own thread. For now it owns the
 * periodic housekeeping; the rollout evaluation hangs off the same timer.
 */
#include "engine/engine.h"

#include "common/log.h"

#include <pthread.h>
#include <stdlib.h>
#include <uv.h>

struct engine {
	struct app *app;
	uv_loop_t loop;
	uv_async_t stop, wake;
	uv_timer_t tick;
	pthread_t thread;
	int running;
};

static void on_tick(uv_timer_t *t)
{
	(void)t;
}

static void on_wake(uv_async_t *a)
{
	(void)a;
}

static void on_close(uv_handle_t *h)
{
	(void)h;
}

static void on_stop(uv_async_t *a)
{
	struct engine *e = a->data;

	uv_timer_stop(&e->tick);
	uv_close((uv_handle_t *)&e->tick, on_close);
	uv_close((uv_handle_t *)&e->wake, on_close);
	uv_close((uv_handle_t *)&e->stop, on_close);
}

static void *run(void *arg)
{
	struct engine *e = arg;

	uv_run(&e->loop, UV_RUN_DEFAULT);
	return NULL;
}

int engine_start(struct app *app)
{
	struct engine *e = calloc(1, sizeof(*e));

	if (e == NULL || uv_loop_init(&e->loop) != 0) {
		free(e);
		return -1;
	}
	e->app = app;
	uv_async_init(&e->loop, &e->stop, on_stop);
	uv_async_init(&e->loop, &e->wake, on_wake);
	uv_timer_init(&e->loop, &e->tick);
	e->stop.data = e->wake.data = e->tick.data = e;
	uv_timer_start(&e->tick, on_tick, 1000, (uint64_t)app->cfg.eval_interval_s * 1000);
	if (pthread_create(&e->thread, NULL, run, e) != 0) {
		uv_loop_close(&e->loop);
		free(e);
		return -1;
	}
	e->running = 1;
	app->engine = e;
	return 0;
}

void engine_stop(struct app *app)
{
	struct engine *e = app->engine;

	if (e == NULL)
		return;
	uv_async_send(&e->stop);
	pthread_join(e->thread, NULL);
	uv_loop_close(&e->loop);
	free(e);
	app->engine = NULL;
}

void engine_wake(struct app *app)
{
	if (app->engine)
		uv_async_send(&app->engine->wake);
}
