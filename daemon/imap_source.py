"""One IMAP folder watched read-only and copied, loss-free, into the spool.

Each (account, folder) gets its own connection and thread: IMAP IDLE watches one selected folder,
and a hung folder must not hold the others up. The mailbox is the seller's, so folders are opened
with EXAMINE and bodies fetched with BODY.PEEK[]: no flag ever changes on the server.

Connections die in the wild without a word (IDLE is dropped after ~10 min by Gmail, ~23 min by
mailbox.org, Office 365 just hangs), so IDLE is re-issued every ``idle_refresh`` seconds, every
read has a socket timeout, an EOF or BYE means reconnect, and every (re)connect starts with a full
check of the folder, so whatever arrived while we were away is fetched.
"""

import contextlib
import imaplib
import logging
import random
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from imapclient.imapclient import SocketTimeout

from daemon.config import Account, Config
from daemon.errors import AuthError, ClaimwatchError, ImapError, TlsError
from daemon.secrets import read_secret
from daemon.spool import Origin, Spool
from daemon.state import Status, SyncState

log = logging.getLogger(__name__)

# Errors that mean "this connection is gone": reconnect with backoff.
CONNECTION_ERRORS = (OSError, imaplib.IMAP4.error, IMAPClientError, EOFError)
SIZE_CHUNK = 1000  # UIDs per size query: ~7 KB command lines, far below servers' 64 KB limits
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_PROBES = 60, 10, 3  # seconds, seconds, probes
SUSPEND_NOTICED = 5.0  # seconds of sleep that count as a suspend (not scheduler jitter)
STALL_FLOOR = 600.0  # seconds: the least silence from a folder watcher taken as a stall


class Backoff:
    """Capped exponential backoff with jitter, so many daemons do not reconnect in lockstep."""

    def __init__(self, initial: float, maximum: float):
        self.initial, self.maximum = initial, maximum
        self.failures = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * 2**self.failures)
        self.failures += 1
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.failures = 0


def connect(account: Account, config: Config) -> IMAPClient:
    """Open an authenticated connection; certificate problems become a :class:`TlsError`."""
    context = None
    if account.security != "none":
        context = ssl.create_default_context(
            cafile=str(account.ca_file) if account.ca_file else None
        )
    timeout = SocketTimeout(connect=config.socket_timeout, read=config.socket_timeout)
    where = f"{account.host}:{account.port}"
    client = None
    try:
        client = IMAPClient(
            account.host,
            account.port,
            ssl=account.security == "tls",
            ssl_context=context,
            timeout=timeout,
        )
        # imapclient turns imaplib's debug level to 5 and formats every line, literals included:
        # ~8x slower fetches on loopback. It also keeps protocol lines out of our logs.
        client._imap.debug = 0
        keep_alive(client.socket())
        if account.security == "starttls":
            client.starttls(context)
        _login(client, account)
        return client
    except ssl.SSLCertVerificationError as e:
        _abandon(client)
        raise TlsError(
            f"account {account.name!r}: the certificate of {where} could not be verified "
            f"({e.verify_message}); if the server uses a private CA or a self-signed "
            f"certificate, set ca_file to its PEM file"
        ) from e
    except CONNECTION_ERRORS as e:
        _abandon(client)
        raise ImapError(f"account {account.name!r}: {where}: {_describe(e)}") from e
    except BaseException:
        _abandon(client)
        raise


def keep_alive(sock: socket.socket) -> None:
    """TCP keepalive probes after a minute of silence: a connection that died with the network
    (a new Wi-Fi, a VPN coming up) is noticed within about 90 s even in a quiet IDLE, which
    would otherwise wait for idle_refresh before finding out."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, KEEPALIVE_IDLE)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPALIVE_INTERVAL)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_PROBES)


class Resumed(ImapError):
    """The machine slept: the connection is dropped and opened again at once."""


class SuspendDetector:
    """Notices that the machine slept: CLOCK_BOOTTIME counts suspended time, CLOCK_MONOTONIC
    does not, so their difference grows by the length of each suspend. After a resume the
    connection is almost surely dead (the server dropped it, or the network changed), and
    reconnecting at once beats waiting for a timeout."""

    def __init__(
        self,
        boottime: Callable[[], float] = lambda: time.clock_gettime(time.CLOCK_BOOTTIME),
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.boottime, self.monotonic = boottime, monotonic
        self.offset = self._offset()

    def _offset(self) -> float:
        return self.boottime() - self.monotonic()

    def slept(self) -> float:
        """Seconds spent suspended since the last call (0.0 when awake throughout)."""
        offset = self._offset()
        gap, self.offset = offset - self.offset, offset
        return gap if gap > SUSPEND_NOTICED else 0.0


def _abandon(client: IMAPClient | None) -> None:
    """Drop a half-open connection (a failed login must not leak a socket per retry)."""
    if client is not None:
        try:
            client.shutdown()
        except CONNECTION_ERRORS as e:
            log.debug("shutdown of a failed connection: %s", e)


def _login(client: IMAPClient, account: Account) -> None:
    secret = read_secret(account)
    try:
        if account.auth == "xoauth2":
            client.oauth2_login(account.username, secret)
        else:
            client.login(account.username, secret)
    except LoginError as e:
        source = "token from password_command" if account.auth == "xoauth2" else "password"
        raise AuthError(
            f"account {account.name!r}: {account.host} refused the login of "
            f"{account.username!r} ({_server_text(e)}); check the account's {source}"
        ) from e


def _server_text(error: Exception) -> str:
    """The server's words from an imapclient error, decoded (they never echo the secret)."""
    text = error.args[0] if error.args else ""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return str(text).strip() or type(error).__name__


def _describe(error: BaseException) -> str:
    """A one-line description of a connection error (never the credentials: we never send any
    to the log, and server responses to LOGIN do not echo them)."""
    text = str(error) or type(error).__name__
    if isinstance(error, bytes):
        text = error.decode(errors="replace")
    return f"{type(error).__name__}: {text}"


def logout_quietly(client: IMAPClient) -> None:
    """Close a connection that may already be dead; cleanup must never raise."""
    try:
        client.logout()
    except CONNECTION_ERRORS:
        try:
            client.shutdown()
        except CONNECTION_ERRORS as e:
            log.debug("shutdown after failed logout: %s", e)


class FolderSync:
    """Copies the new messages of one folder into the spool; the heart of loss-free ingestion."""

    def __init__(
        self, account: Account, folder: str, config: Config, spool: Spool, state: SyncState
    ):
        self.account, self.folder, self.config = account, folder, config
        self.spool, self.state = spool, state
        self._initial = False  # set per run: is this the folder's first complete sync?
        self.progress: Callable[[], None] = lambda: None  # called between network round trips

    def run(self, client: IMAPClient, stop: threading.Event | None = None) -> int:
        """Fetch everything above the last UID done; return how many messages were new."""
        info = client.select_folder(self.folder, readonly=True)
        uidvalidity = int(info[b"UIDVALIDITY"])
        last_uid = self._last_uid(uidvalidity)
        self._initial = self.state.initial(self.account.name, self.folder)
        uidnext = info.get(b"UIDNEXT")
        if info.get(b"EXISTS", 1) == 0 or (uidnext and int(uidnext) <= last_uid + 1):
            self._complete(uidvalidity, last_uid)
            return 0
        sizes = self._new_uids(client, uidvalidity, last_uid)
        if not sizes:
            self._complete(uidvalidity, last_uid)
            return 0
        added = self._download(client, uidvalidity, sizes, stop)
        if stop is None or not stop.is_set():
            self._complete(uidvalidity, max(sizes))
        return added

    def _complete(self, uidvalidity: int, last_uid: int) -> None:
        self.state.advance(self.account.name, self.folder, uidvalidity, last_uid, complete=True)

    def _last_uid(self, uidvalidity: int) -> int:
        """The highest UID done in this folder generation; 0 after a UIDVALIDITY change."""
        known_validity, last_uid = self.state.position(self.account.name, self.folder)
        if known_validity is None or known_validity == uidvalidity:
            return last_uid
        log.warning(
            "%s/%s: UIDVALIDITY changed from %s to %s: resyncing the folder; messages already "
            "spooled are recognised by content and not stored twice",
            *self._where(),
            known_validity,
            uidvalidity,
        )
        return 0

    def _download(
        self,
        client: IMAPClient,
        uidvalidity: int,
        sizes: dict[int, int],
        stop: threading.Event | None,
    ) -> int:
        """Fetch batch n+1 from the server while batch n is written to disk.

        The state advances only once a batch's :meth:`Spool.add` has returned, batch after batch
        in order, so a UID is never marked done before its bytes are durable.
        """
        added = 0
        writing: tuple[Future, int] | None = None
        with ThreadPoolExecutor(1, thread_name_prefix="claimwatch-spool") as writer:
            try:
                for batch in self._batches(sizes):
                    if stop is not None and stop.is_set():
                        break
                    items = self._fetch_batch(client, uidvalidity, batch)
                    self.progress()
                    added += self._settle(writing, uidvalidity)
                    writing = (writer.submit(self.spool.add, items), batch[-1])
            finally:
                added += self._settle(writing, uidvalidity)
        return added

    def _settle(self, writing: tuple[Future, int] | None, uidvalidity: int) -> int:
        """Wait for a batch's write, then mark its UIDs done; return how many were new."""
        if writing is None:
            return 0
        future, last_uid = writing
        names = future.result()
        self.state.advance(self.account.name, self.folder, uidvalidity, last_uid)
        return len(names)

    def _origin(self, uidvalidity: int, uid: int) -> Origin:
        return Origin.imap(self.account.name, self.folder, uidvalidity, uid, self._initial)

    def _new_uids(self, client: IMAPClient, uidvalidity: int, last_uid: int) -> dict[int, int]:
        """UID -> size of the messages above *last_uid* not yet in the spool.

        ``UID n:*`` always matches the highest UID even when it is below n, hence the filter.
        """
        found = client.search(["UID", f"{last_uid + 1}:*"])
        uids = sorted(
            uid
            for uid in found
            if uid > last_uid and not self.spool.has_origin(self._origin(uidvalidity, uid))
        )
        sizes = {}
        # imapclient's fetch takes explicit UIDs only; chunks keep command lines short.
        for start in range(0, len(uids), SIZE_CHUNK):
            response = client.fetch(uids[start : start + SIZE_CHUNK], ["RFC822.SIZE"])
            self.progress()
            for uid, data in response.items():
                sizes[uid] = int(data.get(b"RFC822.SIZE", 0))
        return dict(sorted(sizes.items()))

    def _batches(self, sizes: dict[int, int]) -> Iterator[list[int]]:
        """Group UIDs so a batch stays under both the count and the byte budget."""
        batch: list[int] = []
        total = 0
        for uid, size in sizes.items():
            if batch and (
                len(batch) >= self.config.fetch_batch
                or total + size > self.config.fetch_batch_bytes
            ):
                yield batch
                batch, total = [], 0
            batch.append(uid)
            total += size
        if batch:
            yield batch

    def _fetch_batch(
        self, client: IMAPClient, uidvalidity: int, batch: list[int]
    ) -> list[tuple[Origin, bytes]]:
        response = client.fetch(batch, ["BODY.PEEK[]"])
        items = []
        for uid in batch:
            data = response.get(uid)
            if data is None or b"BODY[]" not in data:
                log.warning("%s/%s: UID %d vanished before it was fetched", *self._where(), uid)
                continue
            items.append((self._origin(uidvalidity, uid), data[b"BODY[]"]))
        return items

    def _where(self) -> tuple[str, str]:
        return self.account.name, self.folder


class FolderWatcher:
    """Keeps one folder synced for the life of the daemon: IDLE or poll, reconnect on failure."""

    def __init__(
        self,
        sync: FolderSync,
        status: Status,
        stop: threading.Event,
        on_new: Callable[[], None],
    ):
        self.sync, self.status, self.stop, self.on_new = sync, status, stop, on_new
        self.config, self.account = sync.config, sync.account
        self.backoff = Backoff(self.config.backoff_initial, self.config.backoff_max)
        self.name = f"{self.account.name}/{sync.folder}"
        self._alive = time.monotonic()  # the last sign of life (a future time while backing off)
        self.suspend = SuspendDetector()
        sync.progress = self.beat

    def beat(self, quiet_for: float = 0.0) -> None:
        """A sign of life; *quiet_for* announces a deliberate wait (a backoff) of that long."""
        self._alive = time.monotonic() + quiet_for

    def silent_for(self) -> float:
        return time.monotonic() - self._alive

    def allowance(self) -> float:
        """How long a healthy watcher may go without a sign of life: every network operation
        is bounded by socket_timeout and a poll waits poll_interval, and a slow server gets a
        generous margin, since a false alarm would restart the daemon mid-sync."""
        return max(STALL_FLOOR, 4 * max(self.config.socket_timeout, self.account.poll_interval))

    def run(self) -> None:
        """Loop until stopped; only a stop request ends it, every failure is retried."""
        while not self.stop.is_set():
            try:
                self._session()
            except Resumed as e:
                log.info("%s", e)  # a fresh connection at once: no backoff, no error
            except ClaimwatchError as e:
                self._failed(str(e))
            except CONNECTION_ERRORS as e:
                self._failed(f"{self.name}: connection lost: {_describe(e)}")

    def _failed(self, message: str) -> None:
        delay = self.backoff.next_delay()
        log.error("%s; retrying in %.1f s", message, delay)
        self.status.failed(self.account.name, message)
        self.beat(quiet_for=delay)
        self.stop.wait(delay)

    def _session(self) -> None:
        client = connect(self.account, self.config)
        try:
            self._sync(client)
            self.backoff.reset()
            use_idle = self.account.idle and client.has_capability("IDLE")
            while not self.stop.is_set():
                changed = self._idle(client) if use_idle else self._poll(client)
                if changed is not None:
                    self._sync(client)
        except Resumed:
            _abandon(client)  # mid-IDLE on a connection that slept: a LOGOUT would only hang
            raise
        except BaseException:
            logout_quietly(client)
            raise
        logout_quietly(client)

    def _sync(self, client: IMAPClient) -> None:
        added = self.sync.run(client, self.stop)
        self.status.synced(self.account.name, added)
        if added:
            log.info("%s: %d new message(s) spooled", self.name, added)
            self.on_new()

    def _poll(self, client: IMAPClient) -> bool | None:
        """Wait one poll interval; NOOP keeps the connection honest (a dead one raises here)."""
        self.beat(quiet_for=self.account.poll_interval)
        if self.stop.wait(self.account.poll_interval):
            return None
        self._check_awake()
        client.noop()
        self.beat()
        return True

    def _idle(self, client: IMAPClient) -> bool | None:
        """IDLE until the server reports a change, ``idle_refresh`` passes or we are stopped.

        Returns True to sync now, None when stopping. The wait happens in one-second slices so a
        stop request is honoured promptly; EOF and BYE raise, which reconnects.
        """
        client.idle()
        deadline = time.monotonic() + self.config.idle_refresh
        changed = False
        while not changed and not self.stop.is_set() and time.monotonic() < deadline:
            changed = self._idle_wait(client, min(1.0, deadline - time.monotonic()))
            self.beat()
            self._check_awake()
        # Not in a finally: after BYE or EOF, DONE would fail and hide the real reason.
        client.idle_done()
        return None if self.stop.is_set() else True

    def _check_awake(self) -> None:
        slept = self.suspend.slept()
        if slept:
            raise Resumed(f"{self.name}: the machine slept {slept:.0f} s; reconnecting now")

    def _idle_wait(self, client: IMAPClient, timeout: float) -> bool:
        readable, _, _ = select.select([client.socket()], [], [], max(timeout, 0))
        if not readable:
            return False
        responses = client.idle_check(timeout=0)
        if not responses:
            # imapclient swallows EOF in idle_check: readable with nothing to read means closed.
            raise ImapError(f"{self.name}: the server closed the connection during IDLE")
        for response in responses:
            if len(response) > 1 and response[0] == b"BYE":
                raise ImapError(f"{self.name}: the server said BYE during IDLE")
        return any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses)


def sync_once(sync: FolderSync, status: Status, attempts: int = 3) -> int:
    """One full sync for ``run --once``, retried with backoff; raises the last error."""
    backoff = Backoff(sync.config.backoff_initial, sync.config.backoff_max)
    for attempt in range(1, attempts + 1):
        try:
            client = connect(sync.account, sync.config)
            try:
                added = sync.run(client)
            finally:
                logout_quietly(client)
            status.synced(sync.account.name, added)
            return added
        except (ClaimwatchError, *CONNECTION_ERRORS) as e:
            message = e if isinstance(e, ClaimwatchError) else _describe(e)
            status.failed(sync.account.name, f"{sync.account.name}/{sync.folder}: {message}")
            if attempt == attempts or isinstance(e, AuthError | TlsError):
                raise ImapError(f"{sync.account.name}/{sync.folder}: {message}") from e
            time.sleep(backoff.next_delay())
    return 0
