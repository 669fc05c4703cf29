/* redirect.h: the plain-HTTP listener that redirects to https
 * (--redirect-listen). See redirect.c. */
#ifndef TLSTERM_REDIRECT_H
#define TLSTERM_REDIRECT_H

#include <uv.h>

/* Connection callback for a redirect listener (server->data is the
 * worker): reads one request, answers 308 (or 400), closes. */
void redirect_accept_cb(uv_stream_t *server, int status);

#endif
