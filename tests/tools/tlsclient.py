"""tlsclient.py: blocking TLS client helpers shared by the Python clients
of the HTTP-mode integration tests (imported, not run). Python 3 standard
library only."""

import glob
import os
import socket
import ssl
import time


def connect(port, cafile):
    """A TLS connection to localhost on 127.0.0.1:PORT, verified against
    CAFILE; an EOF without close_notify raises (never passes for a clean
    end)."""
    ctx = ssl.create_default_context(cafile=cafile)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)


def read_to_close(s, limit=10.0):
    """Everything until the connection ends: (bytes, how it ended) with
    how = clean (close_notify), unclean (EOF without it), reset, open."""
    data = b""
    s.settimeout(0.25)
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        except ssl.SSLEOFError:
            return data, "unclean"
        except ssl.SSLError as e:
            return data, "ssl-error(%s)" % e.reason
        except (ConnectionResetError, BrokenPipeError):
            return data, "reset"
        if not d:
            return data, "clean"
        data += d
    return data, "open"


def backend_saw(rec_dir, needle):
    """True if any connection recorder.py recorded into REC_DIR carries
    NEEDLE."""
    for f in glob.glob(os.path.join(rec_dir, "conn-*.bin")):
        with open(f, "rb") as fh:
            if needle in fh.read():
                return True
    return False
