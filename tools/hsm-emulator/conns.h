/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Idle keep-alive connections: one thread each, so a client that opens
 * hundreds and leaves them idle could hold every slot until they time out.
 * The oldest idle connections of a client address that keeps too many, or
 * the oldest idle ones overall when slots run short, are closed to make
 * room for the new one.
 */
#ifndef HSMEMU_CONNS_H
#define HSMEMU_CONNS_H

#include <microhttpd.h>

#define CONN_LIMIT 512          /* connections per listener */
#define CONN_IDLE_PER_IP 64     /* idle connections kept per client address */
#define CONN_SPARE 32           /* slots kept free by closing idle ones */

/* libmicrohttpd connection start/close notification. */
void conns_notify(void *cls, struct MHD_Connection *c, void **socket_context,
		  enum MHD_ConnectionNotificationCode toe);
/* A request started on c / the request on c ended. */
void conns_busy(struct MHD_Connection *c);
void conns_idle(struct MHD_Connection *c);

#endif
