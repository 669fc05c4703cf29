# Dockerfile: the tlsterm container image (see docs/OPERATIONS.md,
# "Container").
#
#   docker build -t tlsterm .          (or: podman build --format docker ...)
#   docker run --rm -p 443:8443 -v /etc/tlsterm:/etc/tlsterm:ro tlsterm \
#       --listen '*:8443' --admin '*:9000' --backend app.internal:8080 \
#       --cert /etc/tlsterm/cert.pem --key /etc/tlsterm/key.pem
#
# Two stages on Debian trixie, whose own packages have llhttp and libuv:
# the first builds mbedTLS 3.6 from Debian's source package with tlsterm's
# tuned configuration (scripts/build-mbedtls, tls/mbedtls_config_tuned.h:
# Everest X25519, which halves the CPU of a TLS 1.2 handshake; see
# docs/BENCHMARKS.md) and then tlsterm out of tree with the project's
# autotools; the second holds the stripped binary, those three mbedTLS
# libraries, Debian's llhttp and libuv, and a health-check script (no
# compiler, no curl). tlsterm runs as
# the unprivileged user tlsterm (uid/gid 10001) and listens on 8443 (TLS)
# and 9000 (plain-HTTP /healthz and /metrics), ports a non-root user may
# bind.
#
# The build context is the source tree minus what .dockerignore leaves out
# (.git, autotools output, builds), so a checkout configured in-tree builds
# the same as a fresh clone. BuildKit is not needed; podman builds it with
# `--format docker` (the OCI format has no HEALTHCHECK).

ARG DEBIAN_IMAGE=debian:trixie-slim

# ---- build ---------------------------------------------------------------
FROM ${DEBIAN_IMAGE} AS build
ARG DEBIAN_FRONTEND=noninteractive
# gcc, make and binutils rather than build-essential (no g++); cmake and
# dpkg-dev for mbedTLS; libtool is not used; pkgconf provides pkg-config
# and pkg.m4.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      gcc libc6-dev make autoconf automake pkgconf cmake dpkg-dev \
      libllhttp-dev libuv1-dev \
 && rm -rf /var/lib/apt/lists/*
# mbedTLS first, from only the files it depends on (the script, the
# configuration header, the patches), so that a change to tlsterm's sources
# does not rebuild it. Its libraries carry an rpath to /opt/mbedtls/lib,
# where the runtime stage puts them too.
COPY scripts/build-mbedtls /src/scripts/build-mbedtls
COPY tls/mbedtls_config_tuned.h /src/tls/mbedtls_config_tuned.h
COPY tls/mbedtls-patches /src/tls/mbedtls-patches
RUN MBEDTLS_WORKDIR=/tmp/mbedtls /src/scripts/build-mbedtls /opt/mbedtls \
 && rm -rf /tmp/mbedtls /var/lib/apt/lists/* \
 && mkdir -p /staging/opt/mbedtls/lib \
 && cp -a /opt/mbedtls/lib/libmbed*.so* /staging/opt/mbedtls/lib/ \
 && strip --strip-unneeded /staging/opt/mbedtls/lib/libmbed*.so.*.*.*
COPY . /src
WORKDIR /src
# Defensive: should a configured tree get past .dockerignore (another
# builder, a renamed file), drop what would turn the out-of-tree build into
# a refused or stale one; everything removed here is generated.
RUN rm -f config.status config.log Makefile stamp-h1 \
 && find . \( -name '*.o' -o -name '*.a' -o -name .deps -o -name .dirstamp \) -prune -exec rm -rf {} + \
 && autoreconf -fi \
 && mkdir /build \
 && cd /build \
 && /src/configure --prefix=/usr/local --with-mbedtls=/opt/mbedtls \
 && make -j"$(nproc)" tlsterm \
 && make install-strip DESTDIR=/staging \
 && /staging/usr/local/bin/tlsterm --version

# ---- runtime -------------------------------------------------------------
FROM ${DEBIAN_IMAGE}
ARG DEBIAN_FRONTEND=noninteractive
# Only the shared libraries tlsterm links besides mbedTLS (trixie's names:
# libuv1t64 is the 64-bit time_t transition's libuv1). No recommends, no
# apt lists left.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libllhttp9.2 libuv1t64 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && groupadd --gid 10001 tlsterm \
 && useradd --uid 10001 --gid tlsterm --no-create-home --no-log-init \
      --home-dir /nonexistent --shell /usr/sbin/nologin tlsterm \
 && mkdir -p /etc/tlsterm

COPY --from=build /staging/opt/mbedtls /opt/mbedtls
COPY --from=build /staging/usr/local/bin/tlsterm /usr/local/bin/tlsterm
COPY --from=build /staging/usr/local/etc/tlsterm.conf /usr/local/share/tlsterm/tlsterm.conf.example
COPY conf/tlsterm-healthcheck /usr/local/bin/tlsterm-healthcheck
# Fails the build if a shared library is missing.
RUN tlsterm --version && chmod 0755 /usr/local/bin/tlsterm-healthcheck

# Certificates, keys, the ticket secret and an optional --config file are
# mounted here, read-only; the key files must be readable by uid 10001.
VOLUME ["/etc/tlsterm"]

# Numeric, so Kubernetes' runAsNonRoot can verify it without a runAsUser.
USER 10001:10001
EXPOSE 8443 9000

# Where the HEALTHCHECK finds --admin: change it together with --admin.
ENV TLSTERM_HEALTHCHECK_ADDR=127.0.0.1:9000
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/tlsterm-healthcheck"]

# SIGTERM (docker stop, podman stop, Kubernetes): stop accepting, let open
# connections finish for up to --drain-timeout (30s), exit 0. Give the stop
# a longer timeout than that (docker stop -t 40) or it ends in SIGKILL.
STOPSIGNAL SIGTERM

# tlsterm is PID 1 and handles SIGTERM/SIGINT itself; it writes nothing to
# disk unless --log-file/--pidfile is given, so a read-only root works.
ENTRYPOINT ["/usr/local/bin/tlsterm"]
# Every flag is overridable: `docker run IMAGE --listen ... --backend ...`
# replaces this whole list. The backend default is a sidecar on the same
# network namespace (a Kubernetes pod); set --backend to yours.
CMD ["--listen", "*:8443", \
     "--admin", "*:9000", \
     "--backend", "127.0.0.1:8080", \
     "--cert", "/etc/tlsterm/cert.pem", \
     "--key", "/etc/tlsterm/key.pem"]
