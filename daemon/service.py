"""The daemon: sources feed the spool, the processing loop drains it, signals stop it cleanly.

Threads: one :class:`~daemon.imap_source.FolderWatcher` per account and folder, one
:class:`~daemon.drop_folder.DropWatcher`; the main thread runs the processing loop, woken whenever a
source spooled something. SIGTERM or SIGINT sets one stop event that every loop checks: the
message in hand is finished, state is already on disk, and the process exits 0.
"""

import logging
import os
import signal
import threading
import time
from datetime import timedelta

from daemon.alerts import AlertLedger, Scheduler, digest_alert, digest_due
from daemon.atomic import make_private_dir
from daemon.config import Config
from daemon.dispatch import Dispatcher
from daemon.drop_folder import DropFolder, DropWatcher
from daemon.errors import ClaimwatchError
from daemon.imap_source import FolderSync, FolderWatcher, sync_once
from daemon.policy import load_policy
from daemon.processor import Handler, Processor, Tally
from daemon.spool import Spool
from daemon.state import Status, SyncState, now, now_iso
from daemon.triage import ClassifyHandler, ModelWatcher, VerdictLog, build_classifier, model_status
from evidence_store.cases import CaseStore
from evidence_store.index import MessageIndex

log = logging.getLogger(__name__)

DRAIN_EVERY = 5.0  # seconds: the spool is checked this often even when no source woke the loop
ALERT_EVERY = 15.0  # seconds: how often the deadlines are checked when no mail comes in
ALERT_GATHER = 2.0  # seconds of no new mail before the new cases are announced together
ALERT_DRAIN = 60.0  # seconds: how long run --once and a stop wait for alerts still being sent
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

    def _stop_alerts(self) -> None:
        if not self.dispatcher.drain(ALERT_DRAIN):
            log.warning("alerts still being sent after %.0f s; stopping anyway", ALERT_DRAIN)
        self.dispatcher.stop(timeout=5)

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
        threads = [
            self._start(self._watcher(sync).run, sync.account.name) for sync in self.folder_syncs()
        ]
        threads.append(self._start(DropWatcher(self.drop, self.stop, self.work.set).run, "drop"))
        watcher = ModelWatcher(self.config, self.classifier, self.status, self.stop)
        threads.append(self._start(watcher.run, "model"))
        log.info(
            "claimwatch running: %d account(s), drop folder %s",
            len(self.config.accounts),
            self.drop.folder,
        )
        self.dispatcher.start()
        last_drain = last_alert = last_mail = 0.0
        fresh = False  # mail processed since the last check of the deadlines
        while not self.stop.is_set():
            if self.work.is_set() or time.monotonic() - last_drain >= DRAIN_EVERY:
                self.work.clear()
                if self._drain().processed:
                    fresh, last_mail = True, time.monotonic()
                last_drain = time.monotonic()
            # new mail is announced once it has paused for ALERT_GATHER seconds, so that a
            # burst makes one batch (one summary notification), not a popup per message
            gathered = fresh and time.monotonic() - last_mail >= ALERT_GATHER
            if gathered or time.monotonic() - last_alert >= ALERT_EVERY:
                self.check_alerts()
                fresh, last_alert = False, time.monotonic()
            # short waits: a SIGTERM caught by another thread (numpy's BLAS threads, a watcher)
            # only flags this one, which must wake to run the handler
            self.work.wait(timeout=SIGNAL_LATENCY)
        for thread in threads:
            thread.join(timeout=10)
        self._stop_alerts()
        self.index.close()
        log.info("claimwatch stopped")
        return 0

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

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
