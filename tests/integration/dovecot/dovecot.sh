#!/usr/bin/env bash
# Start, stop or ask about a private Dovecot for mailtrack's integration tests.
#
#   tests/integration/dovecot/dovecot.sh start|stop|status
#
# Everything lives under $MAILTRACK_DOVECOT_DIR (default /tmp/mailtrack-dovecot):
#   dovecot.conf   rendered from dovecot.conf.in
#   tls/ca.pem     a private certificate authority, made here with openssl (pass it as ca_file)
#   tls/server.*   the server's certificate, signed by that CA, for IP 127.0.0.1 and the name
#                  mailtrack-dovecot.test only (connecting as "localhost" is a host name mismatch)
#   users          the passwd-file (login:{PLAIN}password:uid:gid::home::), empty at first
#   mail/<login>/  one Maildir per user, owned by the mail user
# Ports: $MAILTRACK_DOVECOT_POP3_PORT (default 11110, plain and STLS),
# $MAILTRACK_DOVECOT_POP3S_PORT (default 11995, implicit TLS), $MAILTRACK_DOVECOT_IMAP_PORT
# (default 11143, plain and STARTTLS) and $MAILTRACK_DOVECOT_IMAPS_PORT (default 11993, implicit
# TLS), all on 127.0.0.1 only.
# OAuth 2.0 tokens (XOAUTH2, OAUTHBEARER) are checked at $MAILTRACK_DOVECOT_OAUTH2_URL/introspect.
#
# As root, mail belongs to nobody (65534): Dovecot refuses uid 0 for mail users. As another
# user, every Dovecot process and every mail file run as that user.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="${MAILTRACK_DOVECOT_DIR:-/tmp/mailtrack-dovecot}"
POP3_PORT="${MAILTRACK_DOVECOT_POP3_PORT:-11110}"
POP3S_PORT="${MAILTRACK_DOVECOT_POP3S_PORT:-11995}"
IMAP_PORT="${MAILTRACK_DOVECOT_IMAP_PORT:-11143}"
IMAPS_PORT="${MAILTRACK_DOVECOT_IMAPS_PORT:-11993}"
# Where the oauth2 passdb checks bearer tokens (the tests' OAuthTestServer, plain HTTP).
OAUTH2_URL="${MAILTRACK_DOVECOT_OAUTH2_URL:-http://127.0.0.1:18080}"
PIDFILE="$DIR/run/master.pid"

if [ "$(id -u)" = 0 ]; then
  MAIL_UID=65534 MAIL_GID=65534 USERS_SETTINGS=""
else
  MAIL_UID="$(id -u)" MAIL_GID="$(id -g)"
  USERS_SETTINGS="default_login_user = $(id -un)
default_internal_user = $(id -un)
default_internal_group = $(id -gn)
service anvil {
  chroot =
}
service pop3-login {
  chroot =
}
service imap-login {
  chroot =
}"
fi

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

make_tls() {
  local tls="$DIR/tls"
  mkdir -p "$tls"
  [ -s "$tls/server.pem" ] && return 0
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=mailtrack test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=mailtrack-dovecot.test" \
    -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
  printf '%s\n' "subjectAltName=DNS:mailtrack-dovecot.test,IP:127.0.0.1" \
    "basicConstraints=CA:FALSE" "extendedKeyUsage=serverAuth" > "$tls/server.ext"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
    -days 30 -extfile "$tls/server.ext" -out "$tls/server.pem" 2>/dev/null
  chmod 600 "$tls/ca.key" "$tls/server.key"
}

wait_for_greeting() {
  for _ in $(seq 100); do
    if python3 - "$POP3_PORT" <<'PY' 2>/dev/null
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1) as s:
    assert s.recv(100).startswith(b"+OK")
PY
    then return 0; fi
    sleep 0.1
  done
  return 1
}

start() {
  if running; then echo "dovecot already running in $DIR, pid $(cat "$PIDFILE")"; return 0; fi
  command -v dovecot >/dev/null || { echo "dovecot is not installed (apt-get install dovecot-pop3d dovecot-imapd)" >&2; exit 2; }
  mkdir -p "$DIR"/{run,state,log,mail}
  chmod 755 "$DIR" "$DIR/mail"
  make_tls
  [ -f "$DIR/users" ] || : > "$DIR/users"
  chmod 644 "$DIR/users"   # test-only passwords
  chown "$MAIL_UID:$MAIL_GID" "$DIR/mail"
  awk -v dir="$DIR" -v p3="$POP3_PORT" -v p3s="$POP3S_PORT" -v im="$IMAP_PORT" -v ims="$IMAPS_PORT" -v uid="$MAIL_UID" \
      -v inst="$(basename "$DIR")" -v users="$USERS_SETTINGS" '{
        gsub(/@DIR@/, dir); gsub(/@POP3_PORT@/, p3); gsub(/@POP3S_PORT@/, p3s); gsub(/@IMAP_PORT@/, im); gsub(/@IMAPS_PORT@/, ims);
        gsub(/@MAIL_UID@/, uid); gsub(/@INSTANCE@/, inst); gsub(/@USERS_SETTINGS@/, users); print
      }' "$HERE/dovecot.conf.in" > "$DIR/dovecot.conf"
  awk -v url="$OAUTH2_URL" '{ gsub(/@OAUTH2_URL@/, url); print }' \
      "$HERE/oauth2.conf.ext.in" > "$DIR/oauth2.conf.ext"
  # Dovecot's daemons must not hold on to our stdout/stderr (a caller reading them would wait forever).
  if ! dovecot -c "$DIR/dovecot.conf" </dev/null >"$DIR/log/start.log" 2>&1; then
    echo "dovecot refused to start:" >&2; cat "$DIR/log/start.log" >&2; exit 1
  fi
  if wait_for_greeting; then
    echo "dovecot started in $DIR, pid $(cat "$PIDFILE"), POP3 127.0.0.1:$POP3_PORT, POP3S 127.0.0.1:$POP3S_PORT, IMAP 127.0.0.1:$IMAP_PORT, IMAPS 127.0.0.1:$IMAPS_PORT"
  else
    echo "dovecot did not come up; see $DIR/log/dovecot.log" >&2
    tail -n 20 "$DIR/log/dovecot.log" >&2 || true
    exit 1
  fi
}

stop() {
  if ! running; then echo "dovecot is not running in $DIR"; return 0; fi
  local pid; pid="$(cat "$PIDFILE")"
  kill "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || { echo "dovecot stopped"; return 0; }; sleep 0.1; done
  echo "dovecot (pid $pid) did not stop" >&2; exit 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running, pid $(cat "$PIDFILE")"; else echo "not running"; exit 3; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 64 ;;
esac
