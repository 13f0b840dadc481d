#!/usr/bin/python3
"""A host of the attacker's, for tests/integration/adversary.sh.

    attacker.py CERT KEY LOG [HOST]

Serves HTTPS on HOST (default 127.0.0.2), a free port, with the
attacker's own certificate; prints its base URL on the first line of
stdout. Every accepted connection is logged to LOG before the TLS
handshake, then every request line and whether it carried a bearer
token (never the token). It answers 404 to everything: what matters is
whether anything reached it at all.
"""
import http.server
import ssl
import sys

cert, key, log_path = sys.argv[1:4]
host = sys.argv[4] if len(sys.argv) > 4 else "127.0.0.2"
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)


def log(line):
    with open(log_path, "a") as f:
        f.write(line + "\n")


class Server(http.server.HTTPServer):
    def get_request(self):
        conn, addr = self.socket.accept()
        log("connection from %s:%d" % addr)
        return ctx.wrap_socket(conn, server_side=True), addr


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self):
        auth = self.headers.get("Authorization", "")
        log("request %s (bearer token: %s)" %
            (self.requestline, "yes" if auth.lower().startswith("bearer") else "no"))
        n = int(self.headers.get("Content-Length", "0") or 0)
        if n:
            self.rfile.read(min(n, 1 << 20))
        body = b'{"error":{"code":"KeyNotFound","message":"no"}}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = answer

    def log_message(self, *args):
        pass


srv = Server((host, 0), Handler)
print("https://%s:%d" % (host, srv.server_address[1]), flush=True)
srv.serve_forever()
