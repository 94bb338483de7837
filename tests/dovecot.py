"""A private Dovecot on 127.0.0.1 for tests and benchmarks.

The design asks for a real IMAP server in tests rather than mocks: IDLE, UIDVALIDITY changes,
restarts and TLS are exactly the behaviours a mock gets wrong. Everything lives under one short
directory in /tmp (unix socket paths must stay under 108 bytes) and nothing in /etc is touched, so
several instances can run side by side. The master must start as root because it setuids to the
mail user.

Also imported by bench/ via sys.path, so it depends only on the stdlib and imapclient.
"""

from __future__ import annotations

import contextlib
import email.utils
import grp
import itertools
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from imapclient import IMAPClient

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
IO_TIMEOUT = 30.0
APPEND_CHUNK = 100
FETCH_BATCH = 500
_counter = 0
_counter_lock = threading.Lock()


def find_binary(name: str) -> str | None:
    """Also look in the sbin directories, which a non-root PATH often lacks."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin"])
    return shutil.which(name, path=path)


def _binary(name: str) -> str:
    """Fail with a readable message instead of a FileNotFoundError deep in subprocess."""
    found = find_binary(name)
    if found is None:
        raise RuntimeError(
            f"{name} not found: install dovecot-imapd and openssl "
            "(apt-get install -y dovecot-imapd openssl)"
        )
    return found


def _free_ports(count: int) -> list[int]:
    """Ask the kernel for distinct free ports; holding all sockets open avoids duplicates."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _next_instance_name() -> str:
    """Dovecot refuses two masters with the same instance_name; make ours unique per process."""
    global _counter
    with _counter_lock:
        _counter += 1
        return f"cw-{os.getpid()}-{_counter}"


def _internaldate(raw: bytes) -> datetime | None:
    """The Date header as an aware datetime, so INTERNALDATE matches what the message claims."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    for line in head.splitlines():
        if line[:5].lower() == b"date:":
            with contextlib.suppress(TypeError, ValueError, IndexError):
                value = email.utils.parsedate_to_datetime(line[5:].decode("ascii", "replace"))
                return value if value.tzinfo else None
            return None
    return None


def _greeting_ok(port: int, timeout: float) -> bool:
    """True once the server answers with `* OK`: the only readiness signal that proves it serves."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(256).startswith(b"* OK")
    except OSError:
        return False


def _port_closed(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return False
    except OSError:
        return True


class Dovecot:
    """One private Dovecot master; ports and mail survive restart(), close() removes everything."""

    host = HOST

    def __init__(self, root: Path | None = None) -> None:
        for name in ("dovecot", "doveconf", "doveadm", "openssl"):
            _binary(name)
        if os.geteuid() != 0:
            raise RuntimeError("the Dovecot master must start as root (it setuids to 'mail')")
        own_root = root is None
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="cwdc", dir="/tmp"))
        self.port, self.tls_port = _free_ports(2)
        self.instance_name = _next_instance_name()
        self.conf_file = self.root / "dovecot.conf"
        self.log_file = self.root / "log" / "dovecot.log"
        self.passwd_dir = self.root / "passwd.d"
        self.cert_file = self.root / "ssl" / "cert.pem"
        self.key_file = self.root / "ssl" / "key.pem"
        self._mail_uid = pwd.getpwnam("mail").pw_uid
        self._mail_gid = grp.getgrnam("mail").gr_gid
        self._proc: subprocess.Popen | None = None
        self._passwords: dict[str, str] = {}
        self._file_seq = itertools.count()
        try:
            self._prepare()
        except BaseException:
            if own_root:
                shutil.rmtree(self.root, ignore_errors=True)
            raise

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Dovecot:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        self._check_config()
        with open(self.root / "log" / "master.out", "ab") as out:
            self._proc = subprocess.Popen(
                [_binary("dovecot"), "-F", "-c", str(self.conf_file)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready()

    def stop(self) -> None:
        """SIGTERM to the master (master.pid, never by name), then wait until the ports are free.

        Only our own child is signalled: a stale master.pid in a reused root must not make us
        kill an unrelated process that now has that pid.
        """
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            pid = self._master_pid()
            os.kill(pid if pid == proc.pid else proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
        # A server that goes away takes its open sessions with it: imap processes can outlive
        # the master for a while, which would hide the outage from a client mid-sync. They
        # share the master's process group (start_new_session above), so end them by group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        self._wait_ports_closed()

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        parts = []
        for f in (self.log_file, self.root / "log" / "master.out"):
            with contextlib.suppress(OSError):
                parts.extend(f.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(parts)

    # -- setup -------------------------------------------------------------------------------

    def _prepare(self) -> None:
        # Mail processes run as 'mail' and the auth process as 'dovecot': both must traverse root.
        self.root.chmod(0o755)
        for sub in ("log", "state", "ssl"):
            (self.root / sub).mkdir(exist_ok=True)
        mail = self.root / "mail"
        mail.mkdir(exist_ok=True)
        os.chown(mail, self._mail_uid, self._mail_gid)
        mail.chmod(0o770)
        self.passwd_dir.mkdir(exist_ok=True)
        os.chown(self.passwd_dir, 0, grp.getgrnam("dovecot").gr_gid)
        self.passwd_dir.chmod(0o750)
        for f in self.passwd_dir.iterdir():  # a root reused from an earlier instance
            self._passwords[f.name] = f.read_text().split("}", 1)[1].split(":", 1)[0]
        if not self.cert_file.exists():
            self._make_cert()
        self.conf_file.write_text(self._config())

    def _make_cert(self) -> None:
        """Self-signed, with the SANs a client checks when it connects to 127.0.0.1 or localhost."""
        subprocess.run(
            [
                *(_binary("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes"),
                *("-days", "3650"),
                *("-subj", "/CN=127.0.0.1"),
                *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
                *("-keyout", str(self.key_file), "-out", str(self.cert_file)),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        self.key_file.chmod(0o600)

    def _config(self) -> str:
        r = self.root
        return f"""\
instance_name = {self.instance_name}
base_dir = {r}/run
state_dir = {r}/state
log_path = {self.log_file}
protocols = imap
listen = {HOST}
ssl = yes
ssl_cert = <{self.cert_file}
ssl_key = <{self.key_file}
ssl_dh = </usr/share/dovecot/dh.pem
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = {self._mail_uid}
first_valid_gid = {self._mail_gid}
mail_location = maildir:~/Maildir
mail_max_userip_connections = 200
namespace inbox {{
  inbox = yes
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.passwd_dir}/%u
}}
userdb {{
  driver = static
  args = uid=mail gid=mail home={r}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {self.port}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {self.tls_port}
    ssl = yes
  }}
}}
"""

    def _check_config(self) -> None:
        res = subprocess.run(
            [_binary("doveconf"), "-c", str(self.conf_file), "-n"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if res.returncode != 0:
            raise RuntimeError(f"invalid dovecot config {self.conf_file}:\n{res.stderr.strip()}")

    def _master_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int((self.root / "run" / "master.pid").read_text().strip())
        return None

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(
                    f"dovecot exited with {self._proc.returncode} at start:\n{self.log_tail()}"
                )
            if _greeting_ok(self.port, timeout=1.0):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"no IMAP greeting on port {self.port} within {START_TIMEOUT}s:\n{self.log_tail()}"
        )

    def _wait_ports_closed(self) -> None:
        """Login processes may outlive the master briefly; a restart would then fail to bind."""
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            if _port_closed(self.port) and _port_closed(self.tls_port):
                return
            time.sleep(0.05)
        raise RuntimeError(f"dovecot ports {self.port}/{self.tls_port} still open after stop")

    # -- users and mail ----------------------------------------------------------------------

    def maildir(self, user: str) -> Path:
        return self.root / "mail" / user / "Maildir"

    def add_user(self, name: str, password: str = "secret") -> None:
        """One passwd-file per user, so a login right after add_user() works.

        Dovecot re-reads a changed passwd-file at most once per second, so appending to one
        shared file made a login in the same second fail; a new file is read on first use.
        """
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}", name) or ".." in name:
            raise ValueError(f"unusable user name for a passwd-file path: {name!r}")
        if any(c in password for c in ":\n\r"):
            raise ValueError("a passwd-file password cannot contain ':' or line breaks")
        f = self.passwd_dir / name
        tmp = f.with_name(f".{name}.tmp")
        tmp.write_text(f"{name}:{{PLAIN}}{password}::::::\n")
        os.chown(tmp, 0, grp.getgrnam("dovecot").gr_gid)
        tmp.chmod(0o640)
        tmp.rename(f)
        self._passwords[name] = password
        self._make_maildir(name)

    def _make_maildir(self, user: str) -> None:
        """Pre-create the Maildir so load_maildir() can write before Dovecot ever saw the user."""
        home = self.root / "mail" / user
        for d in (home, home / "Maildir", *(home / "Maildir" / s for s in ("cur", "new", "tmp"))):
            d.mkdir(exist_ok=True)
            os.chown(d, self._mail_uid, self._mail_gid)
            d.chmod(0o700)

    def connect(self, user: str, timeout: float = IO_TIMEOUT) -> IMAPClient:
        """A logged-in client on the plain port (loopback only, so no TLS needed)."""
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=timeout)
        try:
            client.login(user, self._passwords[user])
        except Exception:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        return client

    def append(
        self,
        user: str,
        folder: str,
        messages: Sequence[bytes],
        flags: Iterable[str] = (),
        dates: Sequence[datetime | None] | None = None,
    ) -> None:
        """APPEND over IMAP, so Dovecot assigns UIDs and updates indexes as for delivered mail."""
        if dates is not None and len(dates) != len(messages):
            raise ValueError("dates must have one entry per message")
        flag_list = list(flags)
        items = []
        for i, raw in enumerate(messages):
            date = dates[i] if dates is not None else _internaldate(raw)
            item: dict = {"msg": raw, "flags": flag_list}
            if date is not None:
                item["date"] = date
            items.append(item)
        with _logged_in(self, user) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            for start in range(0, len(items), APPEND_CHUNK):
                client.multiappend(folder, items[start : start + APPEND_CHUNK])

    def load_maildir(self, user: str, messages: Sequence[bytes]) -> None:
        """Write straight into INBOX's cur/: APPEND of 10,000 messages would dominate a benchmark.

        Files use Dovecot's own naming with S= and W= sizes (the messages are CRLF already, so
        both are the byte length) and the Date header as mtime, which Dovecot reports as
        INTERNALDATE. Dovecot assigns UIDs on first access.
        """
        maildir = self.maildir(user)
        if not (maildir / "cur").is_dir():
            raise ValueError(f"unknown user {user!r}: call add_user() first")
        pid = os.getpid()
        now = int(time.time())
        for raw in messages:
            size = len(raw)
            date = _internaldate(raw)
            ts = int(date.timestamp()) if date else now
            name = f"{ts}.M{next(self._file_seq)}P{pid}.cw,S={size},W={size}:2,"
            tmp = maildir / "tmp" / name
            tmp.write_bytes(raw)
            os.chown(tmp, self._mail_uid, self._mail_gid)
            os.utime(tmp, (ts, ts))
            tmp.rename(maildir / "cur" / name)

    def recreate_folder(self, user: str, folder: str) -> int:
        """Give `folder` a new UIDVALIDITY while keeping its messages, as a server rebuild does.

        Fetch everything, empty the folder, bump UIDVALIDITY with doveadm (Dovecot refuses
        DELETE INBOX), then append the messages back with their flags and dates: they get new
        UIDs above the old ones. A session that has the folder selected (e.g. in IDLE) receives
        `* BYE IMAP session state is inconsistent, please relogin.` and is disconnected.
        """
        old = self.uidvalidity(user, folder)
        with _logged_in(self, user) as client:
            client.select_folder(folder)
            saved = _fetch_all(client)
            if saved:
                client.add_flags(list(saved), [b"\\Deleted"], silent=True)
                client.expunge()
            client.unselect_folder()
        self._doveadm("mailbox", "update", "-u", user, "--uid-validity", str(old + 1), folder)
        new = self.uidvalidity(user, folder)
        if new == old:
            raise RuntimeError(f"UIDVALIDITY of {user}/{folder} did not change ({old})")
        msgs = [saved[uid] for uid in sorted(saved)]
        with _logged_in(self, user) as client:
            for start in range(0, len(msgs), APPEND_CHUNK):
                client.multiappend(folder, msgs[start : start + APPEND_CHUNK])
        return new

    def _doveadm(self, *args: str) -> None:
        res = subprocess.run(
            [_binary("doveadm"), "-c", str(self.conf_file), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if res.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)} failed: {res.stderr.strip()}")

    def kick(self, user: str) -> None:
        """End the user's sessions the way a server restart does: BYE, then the socket closes."""
        self._doveadm("kick", user)

    def session_pids(self, user: str) -> list[int]:
        """The imap processes serving *user* (to freeze one and simulate a hung connection)."""
        res = subprocess.run(
            ["doveadm", "-c", str(self.conf_file), "who", "-1", user],
            capture_output=True,
            text=True,
            timeout=30,
        )
        lines = res.stdout.splitlines()[1:]
        return [int(line.split()[2]) for line in lines if len(line.split()) >= 3]

    # -- read-only inspection ----------------------------------------------------------------

    def flags(self, user: str, folder: str) -> dict[int, tuple[str, ...]]:
        """UID -> flags, read-only; \\Recent is left out because it depends on who looked first."""
        with _logged_in(self, user) as client:
            client.select_folder(folder, readonly=True)
            data = _fetch_batched(client, client.search("ALL"), ["FLAGS"])
        return {
            uid: tuple(f.decode() for f in v[b"FLAGS"] if f != b"\\Recent")
            for uid, v in data.items()
        }

    def uids(self, user: str, folder: str) -> list[int]:
        with _logged_in(self, user) as client:
            client.select_folder(folder, readonly=True)
            return sorted(client.search("ALL"))

    def uidvalidity(self, user: str, folder: str) -> int:
        with _logged_in(self, user) as client:
            return int(client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"])


@contextlib.contextmanager
def _logged_in(server: Dovecot, user: str):
    client = server.connect(user)
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.logout()


def _fetch_batched(client: IMAPClient, uids: Sequence[int], items: list[str]) -> dict[int, dict]:
    """UID FETCH in bounded batches: IMAPClient 4.1 rejects "1:*" in fetch(), and one command
    listing 10,000 UIDs would approach Dovecot's 64 KB command-line limit.
    """
    out: dict[int, dict] = {}
    for start in range(0, len(uids), FETCH_BATCH):
        out.update(client.fetch(list(uids[start : start + FETCH_BATCH]), items))
    return out


def _fetch_all(client: IMAPClient) -> dict[int, dict]:
    """Raw bytes, flags and INTERNALDATE of every message, shaped for IMAPClient.multiappend."""
    data = _fetch_batched(client, client.search("ALL"), ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"])
    return {
        uid: {
            "msg": v[b"BODY[]"],
            "flags": [f for f in v[b"FLAGS"] if f != b"\\Recent"],
            "date": v[b"INTERNALDATE"],
        }
        for uid, v in data.items()
    }
