"""The daemon: sources feed the spool, the processing loop drains it, signals stop it cleanly.

Threads: one :class:`~daemon.imap_source.FolderWatcher` per account and folder, one
:class:`~daemon.drop_folder.DropWatcher`; the main thread runs the processing loop, woken whenever a
source spooled something. SIGTERM or SIGINT sets one stop event that every loop checks: the
message in hand is finished, state is already on disk, and the process exits 0.
"""

import dataclasses
import logging
import os
import signal
import threading
import time
from datetime import timedelta

from classifier.rules import load_rules
from daemon.alerts import AlertLedger, Scheduler, digest_alert, digest_due
from daemon.atomic import make_private_dir
from daemon.config import Config, load_config
from daemon.dispatch import Dispatcher
from daemon.drop_folder import DropFolder, DropWatcher
from daemon.errors import ClaimwatchError
from daemon.imap_source import FolderSync, FolderWatcher, sync_once
from daemon.logs import set_level
from daemon.policy import load_policy
from daemon.processor import Handler, Processor, Tally
from daemon.sd_notify import SystemdNotifier
from daemon.spool import Spool
from daemon.state import Status, SyncState, now, now_iso, parse_time
from daemon.triage import ClassifyHandler, ModelWatcher, VerdictLog, build_classifier, model_status
from evidence_store.cases import CaseStore
from evidence_store.index import MessageIndex
from evidence_store.views import time_left

log = logging.getLogger(__name__)

DRAIN_EVERY = 5.0  # seconds: the spool is checked this often even when no source woke the loop
ALERT_EVERY = 15.0  # seconds: how often the deadlines are checked when no mail comes in
ALERT_GATHER = 2.0  # seconds of no new mail before the new cases are announced together
ALERT_DRAIN = 60.0  # seconds: how long run --once waits for alerts still being sent
STOP_ALERT_DRAIN = 2.0  # seconds: the same on SIGTERM, which must end well within TimeoutStopSec


class _LoopClock:
    """When the main loop last did each of its periodic jobs (monotonic seconds)."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}
        self.fresh = False  # mail processed since the deadlines were last checked

    def since(self, job: str) -> float:
        return time.monotonic() - self.last.get(job, float("-inf"))

    def mark(self, job: str) -> None:
        self.last[job] = time.monotonic()


SIGNAL_LATENCY = 0.5  # seconds: the longest the main loop sleeps before it notices a signal


class Daemon:
    """Everything ``claimwatch run`` does, for one configuration."""

    def __init__(self, config: Config, handlers: list[Handler] | None = None):
        self.config = config
        data_dir = make_private_dir(config.data_dir)
        self.spool = Spool(data_dir)
        self.sync_state = SyncState(data_dir)
        self.status = Status(data_dir)
        self.classifier = build_classifier(config)
        self.verdicts = VerdictLog(data_dir)
        self.index = MessageIndex(data_dir / "index")
        self.cases = CaseStore(
            data_dir / "cases",
            self.index,
            self.spool.read,
            attachment_max_bytes=config.attachment_max_bytes,
        )
        self.classify = classify = ClassifyHandler(
            self.classifier,
            self.verdicts,
            self.index,
            self.cases,
            policy=load_policy(config.deadlines_file),
            backfill_age=config.backfill_age,
        )
        self.ledger = AlertLedger(data_dir)
        self.scheduler = Scheduler(config, self.ledger, self.cases.dir)
        self.dispatcher = Dispatcher(config, self.ledger, self.scheduler)
        # doubtful messages of an earlier run whose alert never went out (a crash, quiet hours)
        self.scheduler.add_reviews(e for e in self.index.entries() if e.get("needs_review"))
        self.processor = Processor(data_dir, self.spool, [classify, *(handlers or [])])
        self.status.set("model", model_status(self.classifier))
        self.drop = DropFolder(config.drop_folder, self.spool)
        self.stop = threading.Event()
        self.work = threading.Event()
        self.reload_requested = threading.Event()
        self.systemd = SystemdNotifier()
        self.watchers: list[FolderWatcher] = []
        self.totals = Tally()  # what the last run_once processed (the demo prints it)

    def folder_syncs(self) -> list[FolderSync]:
        return [
            FolderSync(account, folder, self.config, self.spool, self.sync_state)
            for account in self.config.accounts
            for folder in account.folders
        ]

    def run_once(self) -> int:
        """Sync every account, take the drop folder, process; 1 if any account failed."""
        failed = self.run_syncs()
        self.drop.scan(settled_only=False)
        self.totals = self._drain()
        self.dispatcher.start()
        self.check_alerts()
        self._stop_alerts()
        self.index.close()
        return 1 if failed else 0

    def check_alerts(self) -> None:
        """Hand the alerts due now to the dispatcher (which sends them on its own thread)."""
        self.cases.refresh()  # a case the seller marked responded meanwhile raises nothing
        moment = now()
        self.scheduler.add_reviews(self.classify.reviews)
        self.classify.reviews.clear()
        self.dispatcher.submit(self.scheduler.due(self.cases.cases.values(), moment))
        day = digest_due(self.config, self.ledger, moment)
        if day is not None:
            since = self.ledger.last_digest_at or moment - timedelta(days=1)
            digest = digest_alert(self.index.entries(), since, day)
            if digest is None:
                self.ledger.record_digest(day)
            else:
                self.dispatcher.submit([digest])

    def _stop_alerts(self, wait: float = ALERT_DRAIN) -> None:
        """Let the alerts being sent go out (at most *wait* seconds); one cut short is not in
        the ledger and goes out at the next start."""
        if not self.dispatcher.drain(wait):
            log.warning("alerts still being sent after %.0f s; stopping anyway", wait)
        self.dispatcher.stop(timeout=1)

    def run_syncs(self) -> int:
        """One sync of every configured folder into the spool; returns how many failed."""
        failed = 0
        for sync in self.folder_syncs():
            try:
                sync_once(sync, self.status)
            except ClaimwatchError as e:
                log.error("%s", e)
                failed += 1
        return failed

    def run_forever(self) -> int:
        """Run until SIGTERM/SIGINT; return the exit status."""
        self._install_signal_handlers()
        self.status.set("daemon", {"pid": os.getpid(), "started": now_iso()})
        self.watchers = [self._watcher(sync) for sync in self.folder_syncs()]
        threads = [self._start(w.run, w.account.name) for w in self.watchers]
        threads.append(self._start(DropWatcher(self.drop, self.stop, self.work.set).run, "drop"))
        watcher = ModelWatcher(self.config, self.classifier, self.status, self.stop)
        threads.append(self._start(watcher.run, "model"))
        log.info(
            "claimwatch running: %d account(s), drop folder %s",
            len(self.config.accounts),
            self.drop.folder,
        )
        self.dispatcher.start()
        self.systemd.ready(self.summary_line())
        clock = _LoopClock()
        while not self.stop.is_set():
            self._tick(clock)
            # short waits: a SIGTERM caught by another thread (numpy's BLAS threads, a watcher)
            # only flags this one, which must wake to run the handler
            self.work.wait(timeout=SIGNAL_LATENCY)
        self.systemd.stopping()
        for thread in threads:
            thread.join(timeout=10)
        self._stop_alerts(STOP_ALERT_DRAIN)
        self.index.close()
        self.systemd.close()
        log.info("claimwatch stopped")
        return 0

    def _tick(self, clock: _LoopClock) -> None:
        """One turn of the main loop: process new mail, check deadlines, reload on SIGHUP,
        and tell systemd how things stand."""
        if self.reload_requested.is_set():
            self.reload_requested.clear()
            self.reload()
        if self.work.is_set() or clock.since("drain") >= DRAIN_EVERY:
            self.work.clear()
            if self._drain().processed:
                clock.fresh, clock.last["mail"] = True, time.monotonic()
            clock.mark("drain")
        # new mail is announced once it has paused for ALERT_GATHER seconds, so that a burst
        # makes one batch (one summary notification), not a popup per message
        gathered = clock.fresh and clock.since("mail") >= ALERT_GATHER
        if gathered or clock.since("alerts") >= ALERT_EVERY:
            self.check_alerts()
            clock.fresh = False
            clock.mark("alerts")
            self.systemd.status(self.summary_line())
        if self.systemd.watchdog and clock.since("watchdog") >= self.systemd.watchdog / 3:
            stuck = self.stuck_watchers()
            if stuck:
                log.error("no sign of life from %s: withholding the watchdog", ", ".join(stuck))
            else:
                self.systemd.ping()
            clock.mark("watchdog")

    def stuck_watchers(self) -> list[str]:
        """Folders whose watcher has given no sign of life for far longer than any network
        operation may take (each is bounded by socket_timeout): a hung read or name lookup.
        Withholding WATCHDOG=1 then lets systemd restart the daemon instead of a silent stall."""
        return [w.name for w in self.watchers if w.silent_for() > w.allowance()]

    def summary_line(self) -> str:
        """One line for ``systemctl status``: accounts, open tier-1 cases, the next deadline."""
        accounts = self.status.connected()
        connected = sum(accounts.get(a.name) is True for a in self.config.accounts)
        open_cases = [
            c
            for c in self.cases.cases.values()
            if c.get("status") == "open" and not c.get("backfilled")
        ]
        parts = [f"{connected}/{len(self.config.accounts)} account(s) connected"]
        parts.append(f"{len(open_cases)} open tier-1 case(s)")
        dated = [c for c in open_cases if parse_time(c.get("deadline"))]
        if dated:
            nearest = min(dated, key=lambda c: parse_time(c["deadline"]))
            parts.append(f"next deadline: {nearest['id']}, {time_left(nearest['deadline'], now())}")
        return "; ".join(parts)

    def reload(self) -> None:
        """SIGHUP: read the configuration, rules and deadline policy again and apply them; a
        file with an error is refused whole and the running configuration stays."""
        self.systemd.reloading()
        try:
            config = load_config(self.config.path) if self.config.path else self.config
            rules = load_rules(config.rules_file)
            policy = load_policy(config.deadlines_file)
        except ClaimwatchError as e:
            log.error("reload refused, the running configuration stays: %s", e)
            self.systemd.status(self.summary_line())
            return
        if (config.accounts, config.data_dir) != (self.config.accounts, self.config.data_dir):
            log.warning(
                "accounts or data_dir changed: they apply at the next start "
                "(systemctl --user restart claimwatch)"
            )
        self.classifier.rules = rules
        self.classifier.review_threshold = config.review_threshold
        self.classify.policy, self.classify.backfill_age = policy, config.backfill_age
        self.scheduler.config = self.dispatcher.config = config
        self.cases.attachment_max_bytes = config.attachment_max_bytes
        set_level(config.log_level)
        self.config = dataclasses.replace(
            config, accounts=self.config.accounts, data_dir=self.config.data_dir
        )
        log.info(
            "configuration reloaded: %d rule(s), deadline policy %s",
            len(rules.rules),
            config.deadlines_file,
        )
        self.systemd.send("READY=1")
        self.systemd.status(self.summary_line())

    def _watcher(self, sync: FolderSync) -> FolderWatcher:
        return FolderWatcher(sync, self.status, self.stop, self.work.set)

    def _start(self, target, name: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=f"claimwatch-{name}", daemon=True)
        thread.start()
        return thread

    def _drain(self) -> Tally:
        """One pass of the processing loop; the tally is kept only by ``run_once`` (a daemon
        that runs for weeks must not accumulate one reason per quarantined message)."""
        tally = self.processor.drain(self.stop)
        self.cases.flush()  # the queue is empty: cases/index.html shows every case now
        if tally.processed or tally.quarantined:
            log.info("processed %d message(s), quarantined %d", tally.processed, tally.quarantined)
        return tally

    def _install_signal_handlers(self) -> None:
        def request_stop(signum, _frame):
            log.info("%s received: stopping after the current message", signal.Signals(signum).name)
            self.stop.set()
            self.work.set()

        def request_reload(_signum, _frame):
            log.info("SIGHUP received: reloading the configuration")
            self.reload_requested.set()
            self.work.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGHUP, request_reload)
