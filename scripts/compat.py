#!/usr/bin/env python3
"""Replay a command script against redis-server and corekv and diff the replies.

Usage
-----
    python3 scripts/compat.py --corekv target/release/corekv
    python3 scripts/compat.py --corekv target/release/corekv --shards 1 4 8
    python3 scripts/compat.py --redis-only            # print every redis reply

Options:
    --corekv PATH          corekv binary (required unless --redis-only)
    --redis-server PATH    redis-server binary (default: redis-server)
    --shards N [N ...]     corekv shard counts to test, one server each (default: 1 4)
    --commands FILE        command script (default: scripts/compat/commands.txt
                           next to this file)
    --timeout SECS         per-reply read timeout (default: 2)
    --startup-timeout SECS how long to wait for a server to answer PING (default: 10)
    --verbose              also print every compared line

What it does
------------
1. Starts redis-server on a free loopback port
   (``--save '' --appendonly no --daemonize no --databases 1``; one database
   like corekv, so ``SELECT 1`` errors on both) and one corekv per requested
   shard count (``PATH --port P --bind 127.0.0.1 --shards N``).  Readiness is
   detected by connecting and sending PING until ``+PONG`` arrives; a server
   that exits or never answers within the startup timeout is a hard failure.
   Every server process is stopped at the end (SIGTERM, then SIGKILL after
   3s), also on error.
2. Each server gets a FLUSHALL, then the script is replayed over one raw TCP
   connection.  Each command line is split shell-like (``shlex``, so quotes
   and spaces work), sent as a RESP multibulk, and exactly ONE complete RESP2
   reply is read back (with a timeout) and recorded as raw bytes.  A reply
   that does not arrive in time is recorded as ``<TIMEOUT>`` and the
   connection is reopened, so a late reply cannot shift the following lines.
3. The replies of redis and corekv are compared line by line.  Every
   difference is printed (line number, command, both replies as repr), then a
   summary ``compat: N commands, D differences (shards=S)`` per shard count.
   A corekv that exits during the run is reported with its output's tail.
   Exit status: 0 when nothing differs, 1 when something does, 2 on setup
   errors (a server failing to start, an unreadable script).

Script format (commands.txt)
----------------------------
* Blank lines and lines starting with ``#`` are skipped.
* ``SET "a key" 'a value'`` -- a command, split with shlex, sent as multibulk.
* ``RAW b"*1\\r\\n$4\\r\\nPING\\r\\n"`` -- the rest of the line is a Python
  bytes literal sent verbatim (protocol tests: inline commands, pipelined
  fragments, framing errors).  Exactly one reply is read back, as for a
  command; a RAW line whose bytes produce two replies would leave the second
  one to be read by the next line, so don't do that.
* Prefix directives (before a command or RAW, may be combined):
    ``@SORT``   sort the elements of an array reply before comparing
                (KEYS and other unordered outputs).  A SCAN-shaped reply
                ``[cursor, [keys...]]`` gets its nested key array sorted, and
                its cursor compared only as "0" (finished) vs "not 0":
                cursor values themselves are implementation details.
    ``@SCANALL`` (SCAN lines only, the cursor being the 2nd word) follow
                the cursor: resend the command with each returned cursor
                until it is "0", then compare ["0", all keys, sorted] as one
                reply.  Duplicates are kept, so a key returned twice shows.
                An error reply ends the loop and is compared as is.  Needed
                where a server may legitimately end one SCAN call early
                (corekv walks its shards one after another).
    ``@IGNORE`` send and read one reply, but do not compare (TIME, INFO...).
    ``@TYPE``   compare only the type and shape of the reply: integer vs
                integer (negative integers, the -1/-2 sentinels of TTL & co,
                are still compared exactly), bulk vs bulk, null vs null,
                arrays by length and element shapes, errors by their first
                word.  Useful for PTTL and other clock-dependent values.
* Standalone directives:
    ``@SLEEP MS``    sleep MS milliseconds (lets short expiries pass).
    ``@RECONNECT``   from this line to the end of the file, the connection
                     is closed and reopened after every line.  Put commands
                     that make the server close the connection (framing
                     errors) after it, at the very end of the file.
  Outside @RECONNECT mode a connection the server closed unexpectedly is
  recorded as ``<EOF>`` and reopened before the next line, so one crash
  does not hide the rest of the run.
"""

import argparse
import ast
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"

# Sentinel replies recorded instead of RESP bytes when no reply could be read.
TIMEOUT_REPLY = b"<TIMEOUT>"
EOF_REPLY = b"<EOF>"


# --------------------------------------------------------------------------
# Script parsing
# --------------------------------------------------------------------------

class Entry:
    """One script line that sends something and reads one reply."""

    def __init__(self, lineno, text, payload, args=None, sort=False, ignore=False,
                 shape=False, scanall=False, reconnect=False, sleep_ms=0):
        self.lineno = lineno        # 1-based line number in the script
        self.text = text            # the line as written (for reports)
        self.payload = payload      # bytes sent to the server
        self.args = args            # the split command (None for RAW)
        self.scanall = scanall      # @SCANALL
        self.sort = sort            # @SORT
        self.ignore = ignore        # @IGNORE
        self.shape = shape          # @TYPE
        self.reconnect = reconnect  # reconnect after this line (@RECONNECT mode)
        self.sleep_ms = sleep_ms    # @SLEEP before this line


def encode_command(args):
    """Encode a list of str (sent as UTF-8) or bytes arguments as a RESP multibulk."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else arg.encode("utf-8")
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def parse_script(path):
    """Parse the command script into a list of Entry objects."""
    entries = []
    reconnect_mode = False
    pending_sleep = 0
    with open(path, encoding="utf-8") as f:
        for lineno, raw_line in enumerate(f, 1):
            line = raw_line.strip()
            if not line or line.startswith("#"):
                continue
            if line == "@RECONNECT":
                reconnect_mode = True
                continue
            if line.startswith("@SLEEP"):
                parts = line.split()
                if len(parts) != 2 or not parts[1].isdigit():
                    raise ValueError("line %d: usage: @SLEEP MS" % lineno)
                pending_sleep += int(parts[1])
                continue
            flags = {"sort": False, "ignore": False, "shape": False, "scanall": False}
            directives = {"@SORT": "sort", "@IGNORE": "ignore", "@TYPE": "shape",
                          "@SCANALL": "scanall"}
            rest = line
            while rest.startswith("@"):
                word, _, rest = rest.partition(" ")
                rest = rest.strip()
                key = directives.get(word)
                if key is None:
                    raise ValueError("line %d: unknown directive %s" % (lineno, word))
                flags[key] = True
            args = None
            if rest.startswith("RAW "):
                literal = rest[4:].strip()
                try:
                    payload = ast.literal_eval(literal)
                except (ValueError, SyntaxError) as e:
                    raise ValueError("line %d: bad RAW literal: %s" % (lineno, e))
                if not isinstance(payload, bytes):
                    raise ValueError("line %d: RAW needs a bytes literal b\"...\"" % lineno)
            else:
                try:
                    args = shlex.split(rest)
                except ValueError as e:
                    raise ValueError("line %d: %s" % (lineno, e))
                if not args:
                    raise ValueError("line %d: directive without a command" % lineno)
                payload = encode_command(args)
            if flags["scanall"] and (args is None or len(args) < 2
                                     or args[0].upper() != "SCAN"):
                raise ValueError("line %d: @SCANALL needs a SCAN command" % lineno)
            entries.append(Entry(lineno, line, payload, args=args, reconnect=reconnect_mode,
                                 sleep_ms=pending_sleep, **flags))
            pending_sleep = 0
    return entries


# --------------------------------------------------------------------------
# RESP2 reader
# --------------------------------------------------------------------------

class ConnectionClosed(Exception):
    pass


HELLO3 = b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n"


class RespConnection:
    """A raw TCP connection that reads complete RESP2 or RESP3 replies.

    With ``resp3`` it sends ``HELLO 3`` first (and after every line that may switch the
    protocol back: HELLO, RESET), reading that reply without recording it.
    """

    def __init__(self, port, timeout, resp3=False):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.resp3 = resp3
        if resp3:
            self.hello()

    def hello(self):
        self.send(HELLO3)
        self.read_reply()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)  # raises socket.timeout
        if not chunk:
            raise ConnectionClosed()
        self.buf += chunk

    def _line_end(self, pos):
        """Index of the CRLF ending the line that starts at pos (reads more as needed)."""
        while True:
            idx = self.buf.find(b"\r\n", pos)
            if idx >= 0:
                return idx
            self._fill()

    def _need(self, end):
        while len(self.buf) < end:
            self._fill()

    def _parse(self, pos):
        """Parse one reply starting at buf[pos]; return (end_pos, value).

        Values: ('+', bytes) ('-', bytes) (':', int) ('$', bytes|None)
        ('*', list|None), and in RESP3 ('_', None) ('#', bool) (',', bytes)
        ('(', bytes) ('=', bytes) ('%', [k, v, k, v...]) ('~', list) ('>', list).
        """
        self._need(pos + 1)
        kind = self.buf[pos:pos + 1]
        eol = self._line_end(pos + 1)
        header = self.buf[pos + 1:eol]
        nxt = eol + 2
        if kind in (b"+", b"-", b",", b"("):
            return nxt, (kind.decode(), header)
        if kind == b"_":
            return nxt, ("_", None)
        if kind == b"#":
            return nxt, ("#", header == b"t")
        if kind in (b"$", b"=") and int(header) >= 0:
            n = int(header)
            self._need(nxt + n + 2)
            return nxt + n + 2, (kind.decode(), self.buf[nxt:nxt + n])
        if kind in (b"%", b"~", b">"):
            n = int(header) * (2 if kind == b"%" else 1)
            items = []
            for _ in range(n):
                nxt, item = self._parse(nxt)
                items.append(item)
            return nxt, (kind.decode(), items)
        if kind == b":":
            return nxt, (":", int(header))
        if kind == b"$":
            n = int(header)
            if n < 0:
                return nxt, ("$", None)
            self._need(nxt + n + 2)
            return nxt + n + 2, ("$", self.buf[nxt:nxt + n])
        if kind == b"*":
            n = int(header)
            if n < 0:
                return nxt, ("*", None)
            items = []
            for _ in range(n):
                nxt, item = self._parse(nxt)
                items.append(item)
            return nxt, ("*", items)
        raise ValueError("unexpected RESP type byte %r in %r" % (kind, self.buf[pos:eol + 2]))

    def read_reply(self):
        """Read exactly one reply; return (raw_bytes, parsed_value)."""
        end, value = self._parse(0)
        raw, self.buf = self.buf[:end], self.buf[end:]
        return raw, value


# --------------------------------------------------------------------------
# Comparison helpers
# --------------------------------------------------------------------------

def serialize(value):
    """Serialize a parsed value back to RESP bytes (for normalized compares)."""
    kind, v = value
    if kind in ("+", "-", ",", "("):
        return kind.encode() + v + b"\r\n"
    if kind == "_":
        return b"_\r\n"
    if kind == "#":
        return b"#t\r\n" if v else b"#f\r\n"
    if kind == "=":
        return b"=%d\r\n%s\r\n" % (len(v), v)
    if kind in ("%", "~", ">"):
        n = len(v) // 2 if kind == "%" else len(v)
        return kind.encode() + b"%d\r\n" % n + b"".join(serialize(x) for x in v)
    if kind == ":":
        return b":%d\r\n" % v
    if kind == "$":
        return b"$-1\r\n" if v is None else b"$%d\r\n%s\r\n" % (len(v), v)
    if v is None:
        return b"*-1\r\n"
    return b"*%d\r\n" % len(v) + b"".join(serialize(x) for x in v)


def sorted_value(value):
    """@SORT normalization (see the module docstring)."""
    kind, v = value
    if kind == "%":
        pairs = sorted(zip(v[0::2], v[1::2]), key=lambda kv: serialize(kv[0]))
        return ("%", [x for kv in pairs for x in kv])
    if kind not in ("*", "~") or v is None:
        return value
    if len(v) == 2 and v[0][0] == "$" and v[1][0] == "*" and v[1][1] is not None:
        # SCAN-shaped: [cursor, [elements]]
        cursor = b"0" if v[0][1] == b"0" else b"<nonzero cursor>"
        inner = sorted(v[1][1], key=serialize)
        return ("*", [("$", cursor), ("*", inner)])
    return (kind, sorted(v, key=serialize))


def shape_of(value):
    """@TYPE normalization: the type/shape of a reply, as a printable string."""
    kind, v = value
    if kind == "+":
        return "simple"
    if kind == "-":
        return "error " + v.split(b" ", 1)[0].decode("latin-1")
    if kind == ":":
        return "integer %d" % v if v < 0 else "integer >= 0"
    if kind == "$":
        return "null bulk" if v is None else "bulk"
    if kind == "_":
        return "null"
    if kind in ("#", ",", "(", "="):
        return {"#": "boolean", ",": "double", "(": "big number", "=": "verbatim"}[kind]
    if v is None:
        return "null array"
    name = {"*": "array", "%": "map", "~": "set", ">": "push"}[kind]
    return "%s[%s]" % (name, ", ".join(shape_of(x) for x in v))


def comparable(entry, raw, value):
    """The thing to compare for this entry, given a reply."""
    if value is None:          # TIMEOUT / EOF sentinel
        return raw
    if entry.shape:
        return shape_of(value)
    if entry.sort:
        return serialize(sorted_value(value))
    return raw


# --------------------------------------------------------------------------
# Server processes
# --------------------------------------------------------------------------

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    """A server process on a loopback port, with its output kept in a log file."""

    def __init__(self, name, argv_fn):
        self.name = name
        self.port = free_port()
        self.argv = argv_fn(self.port)
        self.log = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                         stdout=self.log, stderr=subprocess.STDOUT)
        except OSError as e:
            raise RuntimeError("%s: cannot start %s: %s" % (name, self.argv[0], e))

    def log_tail(self, limit=2000):
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")[-limit:]

    def wait_ready(self, timeout):
        """Poll with PING until +PONG; raise RuntimeError if it never comes."""
        deadline = time.monotonic() + timeout
        last_err = "no attempt"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with status %s during startup:\n%s"
                                   % (self.name, self.proc.returncode, self.log_tail()))
            try:
                conn = RespConnection(self.port, 0.5)
                try:
                    conn.send(b"*1\r\n$4\r\nPING\r\n")
                    raw, _ = conn.read_reply()
                    if raw == b"+PONG\r\n":
                        return
                    last_err = "PING answered %r" % raw
                finally:
                    conn.close()
            except (OSError, ConnectionClosed, ValueError) as e:
                last_err = repr(e)
            time.sleep(0.05)
        raise RuntimeError("%s did not answer PING on port %d within %.0fs (last: %s)\n%s"
                           % (self.name, self.port, timeout, last_err, self.log_tail()))

    def stop(self):
        """SIGTERM, then SIGKILL if the process is still there after 3s."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# --------------------------------------------------------------------------
# Replay
# --------------------------------------------------------------------------

def scan_all(conn, args, max_calls=100000):
    """@SCANALL: follow the SCAN cursor to "0"; return (raw, value) of the union."""
    args = list(args)
    keys = []
    for _ in range(max_calls):
        conn.send(encode_command(args))
        raw, value = conn.read_reply()
        kind, v = value
        if not (kind == "*" and v and len(v) == 2 and v[0][0] == "$"
                and v[0][1] is not None and v[1][0] == "*" and v[1][1] is not None):
            return raw, value  # an error or something that is not a SCAN reply
        keys.extend(v[1][1])
        if v[0][1] == b"0":
            value = ("*", [("$", b"0"), ("*", sorted(keys, key=serialize))])
            return serialize(value), value
        args[1] = v[0][1]
    msg = b"<SCANALL: cursor not back to 0 after %d calls>" % max_calls
    return msg, None


def replay(server, entries, timeout, resp3=False):
    """Run the script against server; return [(raw, value)] per entry."""
    port = server.port
    results = []
    try:
        conn = RespConnection(port, timeout, resp3)
    except OSError as e:
        raise RuntimeError("%s: cannot connect to port %d: %s\n%s"
                           % (server.name, port, e, server.log_tail()))
    try:
        try:
            conn.send(b"*1\r\n$8\r\nFLUSHALL\r\n")
            raw, _ = conn.read_reply()
        except (OSError, ConnectionClosed, ValueError) as e:
            raw = repr(e).encode()
        if raw != b"+OK\r\n":
            raise RuntimeError("%s: FLUSHALL before the script answered %r"
                               % (server.name, raw))
        for entry in entries:
            if entry.sleep_ms:
                time.sleep(entry.sleep_ms / 1000.0)
            broken = False
            try:
                if entry.scanall:
                    results.append(scan_all(conn, entry.args))
                else:
                    conn.send(entry.payload)
                    results.append(conn.read_reply())
                    if resp3 and entry.args and str(entry.args[0]).upper() in ("HELLO", "RESET"):
                        conn.hello()
            except socket.timeout:
                results.append((TIMEOUT_REPLY, None))
                broken = True  # a late reply would shift every following line
            except (ConnectionClosed, OSError):
                results.append((EOF_REPLY, None))
                broken = True
            except ValueError as e:  # unparsable reply
                results.append((b"<BAD REPLY: " + str(e).encode() + b">", None))
                broken = True
            if broken or entry.reconnect:
                conn.close()
                conn = None
                try:
                    conn = RespConnection(port, timeout, resp3)
                except (OSError, ConnectionClosed, ValueError) as e:
                    # The server is gone (crashed?): every remaining line fails.
                    missing = b"<NO CONNECTION: " + str(e).encode() + b">"
                    results.extend((missing, None) for _ in entries[len(results):])
                    break
    finally:
        if conn is not None:
            conn.close()
    return results


def show(raw, limit=1000):
    """repr() of a reply, cut short when it is very long (INFO...)."""
    if len(raw) <= limit:
        return repr(raw)
    return "%r... (%d bytes)" % (raw[:limit], len(raw))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corekv", help="path to the corekv binary")
    ap.add_argument("--redis-server", default="redis-server")
    ap.add_argument("--shards", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--commands", default=os.path.join(here, "compat", "commands.txt"))
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--startup-timeout", type=float, default=10.0)
    ap.add_argument("--redis-only", action="store_true",
                    help="run only against redis-server and print every reply")
    ap.add_argument("--protocol", type=int, nargs="+", default=[2, 3], choices=[2, 3],
                    help="RESP versions to replay the script in (default: 2 3)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    if not args.redis_only and not args.corekv:
        ap.error("--corekv is required (or use --redis-only)")

    try:
        entries = parse_script(args.commands)
    except (OSError, ValueError) as e:
        print("compat: cannot read script: %s" % e, file=sys.stderr)
        return 2

    status = 0
    for proto in args.protocol:
        status = max(status, run_protocol(args, entries, proto))
    return status


def run_protocol(args, entries, proto):
    """Fresh servers, the script replayed in RESP`proto`, differences printed; the exit status."""
    resp3 = proto == 3
    servers = []
    try:
        redis = Server("redis-server", lambda p: [
            args.redis_server, "--port", str(p), "--bind", HOST,
            "--save", "", "--appendonly", "no", "--daemonize", "no",
            # corekv has a single database: make SELECT 1 fail the same way.
            "--databases", "1"])
        servers.append(redis)
        corekvs = []
        if not args.redis_only:
            for n in args.shards:
                s = Server("corekv(shards=%d)" % n, lambda p, n=n: [
                    args.corekv, "--port", str(p), "--bind", HOST, "--shards", str(n)])
                servers.append(s)
                corekvs.append((n, s))
        for s in servers:
            s.wait_ready(args.startup_timeout)

        expected = replay(redis, entries, args.timeout, resp3)
        if redis.proc.poll() is not None:
            raise RuntimeError("redis-server exited during the run:\n" + redis.log_tail())
        if args.redis_only:
            for entry, (raw, _) in zip(entries, expected):
                print("%4d %-60s %s" % (entry.lineno, entry.text, show(raw, 300)))
            print("compat: %d commands against redis-server only (RESP%d)"
                  % (len(entries), proto))
            return 0

        total_diffs = 0
        summaries = []
        for n, server in corekvs:
            got = replay(server, entries, args.timeout, resp3)
            if server.proc.poll() is not None:
                print("%s EXITED during the run with status %s; its output ends with:\n%s"
                      % (server.name, server.proc.returncode, server.log_tail()))
            diffs = 0
            for entry, (r_raw, r_val), (c_raw, c_val) in zip(entries, expected, got):
                if entry.ignore:
                    continue
                same = comparable(entry, r_raw, r_val) == comparable(entry, c_raw, c_val)
                if not same:
                    diffs += 1
                    print("line %d (shards=%d, RESP%d): %s" % (entry.lineno, n, proto, entry.text))
                    print("    redis:  %s" % show(r_raw))
                    print("    corekv: %s" % show(c_raw))
                elif args.verbose:
                    print("line %d ok: %s -> %s" % (entry.lineno, entry.text, show(c_raw)))
            total_diffs += diffs
            summaries.append("compat: %d commands, %d differences (shards=%d, RESP%d)"
                             % (len(entries), diffs, n, proto))
        for line in summaries:
            print(line)
        return 1 if total_diffs else 0
    except RuntimeError as e:
        print("compat: %s" % e, file=sys.stderr)
        return 2
    finally:
        for s in servers:
            s.stop()

if __name__ == "__main__":
    sys.exit(main())
