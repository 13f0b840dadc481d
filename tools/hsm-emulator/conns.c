/* SPDX-License-Identifier: Apache-2.0 */
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "conns.h"
#include "util.h"

struct conn {
	struct conn *prev, *next;
	int fd;
	int idle;
	int closing;            /* shut down by us, not yet closed */
	uint64_t since;         /* idle since (monotonic ms) */
	char addr[64];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn *head;
static unsigned count;

/* Numeric client address of a connection, "-" if unknown. */
static void conn_addr(struct MHD_Connection *c, char *out, size_t cap)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	snprintf(out, cap, "-");
	if (ci && ci->client_addr)
		getnameinfo(ci->client_addr,
			    ci->client_addr->sa_family == AF_INET6
				    ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in),
			    out, cap, NULL, 0, NI_NUMERICHOST);
}

/* Oldest idle connection, of one address if addr is given; lock held. */
static struct conn *oldest_idle(const char *addr, unsigned *n_idle)
{
	struct conn *best = NULL;

	*n_idle = 0;
	for (struct conn *k = head; k; k = k->next) {
		if (!k->idle || k->closing || (addr && strcmp(k->addr, addr)))
			continue;
		(*n_idle)++;
		if (!best || k->since < best->since)
			best = k;
	}
	return best;
}

/* Shutting the socket down wakes the connection's thread, which then
 * closes it as if the client had gone; lock held. */
static void evict(struct conn *k)
{
	log_debug("closing an idle connection from %s", k->addr);
	k->closing = 1;
	shutdown(k->fd, SHUT_RDWR);
}

/* Makes room for a new connection from addr; lock held. */
static void make_room(const char *addr)
{
	struct conn *k;
	unsigned n;

	k = oldest_idle(addr, &n);
	if (k && n > CONN_IDLE_PER_IP)
		evict(k);
	if (count + CONN_SPARE > CONN_LIMIT && (k = oldest_idle(NULL, &n)))
		evict(k);
}

/* Tracks each connection from accept to close. */
void conns_notify(void *cls, struct MHD_Connection *c, void **socket_context,
		  enum MHD_ConnectionNotificationCode toe)
{
	const union MHD_ConnectionInfo *ci;
	struct conn *k = *socket_context;

	(void)cls;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		k = calloc(1, sizeof(*k));
		if (!k || !ci) {
			free(k);
			return;
		}
		k->fd = ci->connect_fd;
		k->idle = 1;
		k->since = clock_ms();
		conn_addr(c, k->addr, sizeof(k->addr));
		pthread_mutex_lock(&lock);
		make_room(k->addr);
		k->next = head;
		if (head)
			head->prev = k;
		head = k;
		count++;
		pthread_mutex_unlock(&lock);
		*socket_context = k;
		return;
	}
	if (toe != MHD_CONNECTION_NOTIFY_CLOSED || !k)
		return;
	pthread_mutex_lock(&lock);
	if (k->prev)
		k->prev->next = k->next;
	else
		head = k->next;
	if (k->next)
		k->next->prev = k->prev;
	count--;
	pthread_mutex_unlock(&lock);
	free(k);
	*socket_context = NULL;
}

/* The connection's tracking record, if it has one. */
static struct conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* Only idle connections are ever closed by make_room. */
void conns_busy(struct MHD_Connection *c)
{
	struct conn *k = conn_of(c);

	if (!k)
		return;
	pthread_mutex_lock(&lock);
	k->idle = 0;
	pthread_mutex_unlock(&lock);
}

/* Idle again once the answer has gone out. */
void conns_idle(struct MHD_Connection *c)
{
	struct conn *k = conn_of(c);

	if (!k)
		return;
	pthread_mutex_lock(&lock);
	k->idle = 1;
	k->since = clock_ms();
	pthread_mutex_unlock(&lock);
}
