"""The configuration loader, the example file and the secret sources, on real files in tmp_path.

Error wording is asserted because it is the interface a user meets: each message must name the
file, the key and the bad value, and say what is accepted.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import pytest

from daemon.config import (
    ACCOUNT_OPTIONS,
    GLOBAL_OPTIONS,
    Account,
    Config,
    default_config_path,
    example_config,
    load_config,
)
from daemon.errors import ConfigError, SecretError
from daemon.secrets import read_secret

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config" / "claimwatch.example.toml"

ACCOUNT = """
[[accounts]]
name = "amazon-fr"
host = "imap.example.com"
username = "seller@example.com"
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """Keep the developer's own config, XDG dirs and credentials out of every test."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("CLAIMWATCH_CONFIG", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "CREDENTIALS_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load_error(tmp_path: Path, text: str) -> tuple[Path, str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return path, str(info.value)


# --- error wording -------------------------------------------------------------------------------

EXACT = [
    (
        "acounts = 1\n",
        "unknown key 'acounts' (known keys: accounts, attachment_max_bytes, backfill_age, "
        "backoff_initial, backoff_max, burst, data_dir, deadlines_file, desktop_notifications, "
        "drop_folder, fetch_batch, fetch_batch_bytes, idle, idle_refresh, log_level, "
        "notify_command, open_command, poll_interval, quiet_hours, reminders, review_threshold, "
        "routine_digest, rules_file, socket_timeout)",
    ),
    (
        ACCOUNT + 'port = "abc"\n',
        "accounts[0] (amazon-fr).port: expected an integer, got 'abc' (str)",
    ),
    (
        '[[accounts]]\nname = "amazon-fr"\nusername = "u"\n',
        "accounts[0] (amazon-fr): missing required key 'host'",
    ),
    ('[[accounts]]\nhost = "h"\nusername = "u"\n', "accounts[0]: missing required key 'name'"),
    (
        ACCOUNT + 'security = "none"\n',
        "accounts[0] (amazon-fr).security: 'none' sends the password in clear text and is only "
        "allowed to a loopback host, not 'imap.example.com'; use 'tls' or 'starttls'",
    ),
    (
        ACCOUNT + 'security = "ssl"\n',
        "accounts[0] (amazon-fr).security: expected one of tls, starttls, none, got 'ssl'",
    ),
    (
        ACCOUNT + ACCOUNT,
        "accounts[1] (amazon-fr).name: duplicate account name 'amazon-fr' (also accounts[0]); "
        "account names must be unique",
    ),
    (
        ACCOUNT + "port = true\n",
        "accounts[0] (amazon-fr).port: expected an integer, got True (bool)",
    ),
    (
        'backfill_age = "two weeks"\n',
        'backfill_age: expected a duration such as "48h", "7d" or "1h30m" (d, h, m, s), '
        "got 'two weeks'",
    ),
    ('backfill_age = "0d"\n', "backfill_age: expected a duration > 0, got '0d'"),
    (
        'reminders = ["arrival", "24h", "1d"]\n',
        "reminders: a reminder is listed twice in ['arrival', '24h', '1d']",
    ),
    (
        'reminders = ["arrival", "soon"]\n',
        'reminders: expected a duration such as "48h", "7d" or "1h30m" (d, h, m, s), got \'soon\'',
    ),
    (
        'quiet_hours = "22h-7h"\n',
        'quiet_hours: expected a time of day "HH:MM" (24-hour clock), e.g. "18:00", '
        "got '22h' (str)",
    ),
    (
        'quiet_hours = "22:00-22:00"\n',
        "quiet_hours: quiet hours that start and end at the same time: '22:00-22:00'",
    ),
    (
        'routine_digest = "25:00"\n',
        'routine_digest: expected a time of day "HH:MM" (24-hour clock), e.g. "18:00", '
        "got '25:00' (str)",
    ),
    ("burst = 0\n", "burst: expected an integer >= 1, got 0"),
]


@pytest.mark.parametrize(("text", "message"), EXACT)
def test_exact_error_wording(tmp_path, text, message):
    path, error = load_error(tmp_path, text)
    assert error == f"{path}: {message}"


CONTAINS = {
    "unknown account key": (
        ACCOUNT + "prot = 993\n",
        ["accounts[0] (amazon-fr): unknown key 'prot'", "known keys: auth, ca_file, folders"],
    ),
    "port out of range": (
        ACCOUNT + "port = 70000\n",
        ["accounts[0] (amazon-fr).port", "expected an integer from 1 to 65535, got 70000"],
    ),
    "name with a space": (
        '[[accounts]]\nname = "amazon fr"\nhost = "h"\nusername = "u"\n',
        ["accounts[0].name: expected 1 to 64 letters, digits", "got 'amazon fr' (str)"],
    ),
    "name escaping the directory": (
        '[[accounts]]\nname = ".."\nhost = "h"\nusername = "u"\n',
        ["accounts[0].name", "got '..' (str)"],
    ),
    "second account named in context": (
        ACCOUNT + '[[accounts]]\nname = "ebay"\nhost = "h"\nusername = "u"\nport = "x"\n',
        ["accounts[1] (ebay).port: expected an integer, got 'x' (str)"],
    ),
    "xoauth2 without token helper": (
        ACCOUNT + 'auth = "xoauth2"\npassword_env = "TOKEN"\n',
        ["accounts[0] (amazon-fr).auth: 'xoauth2' requires password_command"],
    ),
    "unknown auth": (
        ACCOUNT + 'auth = "plain"\n',
        ["accounts[0] (amazon-fr).auth: expected one of login, xoauth2, got 'plain'"],
    ),
    "two secret sources": (
        ACCOUNT + 'password_command = "true"\npassword_env = "PW"\n',
        [
            "accounts[0] (amazon-fr): set at most one of password_command, password_file, "
            "password_env, got password_command and password_env"
        ],
    ),
    "bad env variable name": (
        ACCOUNT + 'password_env = "MY-PW"\n',
        ["accounts[0] (amazon-fr).password_env: expected an environment variable name", "'MY-PW'"],
    ),
    "missing password file": (
        ACCOUNT + 'password_file = "/nonexistent/amazon-fr.pass"\n',
        ["accounts[0] (amazon-fr).password_file: /nonexistent/amazon-fr.pass does not exist"],
    ),
    "missing ca file": (
        ACCOUNT + 'ca_file = "/nonexistent/ca.pem"\n',
        ["accounts[0] (amazon-fr).ca_file: /nonexistent/ca.pem does not exist"],
    ),
    "folders as a string": (
        ACCOUNT + 'folders = "INBOX"\n',
        ["accounts[0] (amazon-fr).folders: expected a non-empty list of folder names", "(str)"],
    ),
    "folders empty": (
        ACCOUNT + "folders = []\n",
        ["accounts[0] (amazon-fr).folders: expected a non-empty list", "got [] (list)"],
    ),
    "folder name empty": (
        ACCOUNT + 'folders = ["INBOX", ""]\n',
        ["accounts[0] (amazon-fr).folders: expected a non-empty list", "['INBOX', '']"],
    ),
    "folder listed twice": (
        ACCOUNT + 'folders = ["INBOX", "Claims", "INBOX"]\n',
        ["accounts[0] (amazon-fr).folders: folder 'INBOX' is listed twice"],
    ),
    "account idle not a bool": (
        ACCOUNT + 'idle = "yes"\n',
        ["accounts[0] (amazon-fr).idle: expected true or false, got 'yes' (str)"],
    ),
    "accounts as a single table": (
        '[accounts]\nname = "amazon-fr"\n',
        ["accounts: expected [[accounts]] tables, got", "(dict)"],
    ),
    "account that is not a table": ("accounts = [1]\n", ["accounts[0]: expected an [[accounts]]"]),
    "idle_refresh beyond RFC 2177": (
        "idle_refresh = 1800\n",
        ["idle_refresh: expected a number of seconds > 0 and < 1740 (RFC 2177", "got 1800"],
    ),
    "idle_refresh zero": ("idle_refresh = 0\n", ["idle_refresh: expected a number of seconds > 0"]),
    "poll_interval negative": ("poll_interval = -5\n", ["poll_interval: expected", "got -5"]),
    "poll_interval nan": ("poll_interval = nan\n", ["poll_interval: expected", "got nan"]),
    "poll_interval bool": (
        "poll_interval = true\n",
        ["poll_interval: expected a number of seconds, got True (bool)"],
    ),
    "idle not a bool": ("idle = 1\n", ["idle: expected true or false, got 1 (int)"]),
    "fetch_batch zero": ("fetch_batch = 0\n", ["fetch_batch: expected an integer from 1 to 5000"]),
    "fetch_batch too big": ("fetch_batch = 5001\n", ["fetch_batch:", "got 5001"]),
    "fetch_batch float": ("fetch_batch = 2.5\n", ["fetch_batch: expected an integer, got 2.5"]),
    "fetch_batch_bytes zero": ("fetch_batch_bytes = 0\n", ["fetch_batch_bytes: expected an"]),
    "backoff_max below initial": (
        "backoff_initial = 10\nbackoff_max = 5\n",
        ["backoff_max: expected a number >= backoff_initial (10), got 5"],
    ),
    "log level": (
        'log_level = "verbose"\n',
        ["log_level: expected one of debug, info, warning, error, got 'verbose'"],
    ),
    "data_dir empty": ('data_dir = ""\n', ["data_dir: expected a non-empty string, got ''"]),
    "TOML syntax": ("data_dir = \n", ["invalid TOML: ", "line 1"]),
}


@pytest.mark.parametrize(("text", "fragments"), CONTAINS.values(), ids=CONTAINS.keys())
def test_error_names_file_key_and_value(tmp_path, text, fragments):
    path, error = load_error(tmp_path, text)
    assert error.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in error


def test_not_utf8(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b'data_dir = "\xff"\n')
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        load_config(path)


# --- finding the file, defaults, paths -----------------------------------------------------------


def test_missing_file_tells_how_to_start(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    with pytest.raises(ConfigError) as info:
        load_config()
    expected = tmp_path / "cfg" / "claimwatch" / "config.toml"
    assert str(info.value).startswith(f"{expected}: no such configuration file")
    assert "copy config/claimwatch.example.toml" in str(info.value)


def test_explicit_missing_file_is_an_error_even_when_not_required(tmp_path):
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "typo.toml", required=False)


def test_defaults_without_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    config = load_config(required=False)
    assert config.path is None
    assert config.data_dir == tmp_path / "data" / "claimwatch"
    assert config.drop_folder == config.data_dir / "inbox"
    assert config.accounts == ()
    assert (config.poll_interval, config.idle, config.idle_refresh) == (60.0, True, 540.0)
    assert (config.socket_timeout, config.backoff_initial, config.backoff_max) == (60, 1, 300)
    assert (config.fetch_batch, config.fetch_batch_bytes) == (200, 32 * 1024 * 1024)
    assert config.log_level == "info"


def test_data_dir_defaults_under_home_without_xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", "relative/is/ignored")
    config = load_config(write(tmp_path, ""))
    assert config.data_dir == tmp_path / "home" / ".local" / "share" / "claimwatch"


def test_default_config_path_precedence(tmp_path, monkeypatch):
    assert default_config_path() == tmp_path / "home" / ".config" / "claimwatch" / "config.toml"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert default_config_path() == tmp_path / "cfg" / "claimwatch" / "config.toml"
    monkeypatch.setenv("CLAIMWATCH_CONFIG", str(tmp_path / "mine.toml"))
    assert default_config_path() == tmp_path / "mine.toml"


def test_claimwatch_config_is_loaded(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    write(tmp_path, "fetch_batch = 7\n", name="mine.toml")
    monkeypatch.setenv("CLAIMWATCH_CONFIG", str(tmp_path / "mine.toml"))
    config = load_config()
    assert config.path == tmp_path / "mine.toml"
    assert config.fetch_batch == 7


def test_relative_paths_resolve_against_the_config_directory(tmp_path, monkeypatch):
    etc = tmp_path / "etc"
    etc.mkdir()
    monkeypatch.chdir(tmp_path / "home")
    config = load_config(write(etc, 'data_dir = "state"\n'))
    assert config.data_dir == etc / "state"
    assert config.drop_folder == etc / "state" / "inbox"


def test_tilde_is_expanded(tmp_path):
    config = load_config(write(tmp_path, 'data_dir = "~/cw"\ndrop_folder = "~/drop"\n'))
    assert config.data_dir == tmp_path / "home" / "cw"
    assert config.drop_folder == tmp_path / "home" / "drop"


def test_account_defaults_and_overrides(tmp_path):
    text = "idle = false\npoll_interval = 30\n" + ACCOUNT + ACCOUNT.replace("amazon-fr", "ebay")
    text += 'security = "starttls"\nidle = true\npoll_interval = 5\nfolders = ["INBOX", "Claims"]\n'
    first, second = load_config(write(tmp_path, text)).accounts
    assert (first.port, first.security, first.auth) == (993, "tls", "login")
    assert first.folders == ("INBOX",)
    assert (first.idle, first.poll_interval) == (False, 30.0)
    assert isinstance(first.poll_interval, float)
    assert (second.port, second.idle, second.poll_interval) == (143, True, 5.0)
    assert second.folders == ("INBOX", "Claims")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "localhost", "LocalHost"])
def test_security_none_allowed_to_loopback(tmp_path, host):
    text = ACCOUNT.replace("imap.example.com", host) + 'security = "none"\n'
    (account,) = load_config(write(tmp_path, text)).accounts
    assert (account.security, account.port) == ("none", 143)


def test_schema_matches_the_dataclasses():
    config_fields = {f.name for f in dataclasses.fields(Config)}
    assert set(GLOBAL_OPTIONS) == config_fields - {"path", "accounts"}
    assert set(ACCOUNT_OPTIONS) == {f.name for f in dataclasses.fields(Account)}


# --- the example file ----------------------------------------------------------------------------


def test_committed_example_is_generated():
    assert EXAMPLE.read_text() == example_config(), (
        "regenerate: python -c 'from daemon.config import example_config as e; "
        'print(e(), end="")\' > config/claimwatch.example.toml'
    )


def test_example_documents_every_key():
    text = example_config()
    for key in [*GLOBAL_OPTIONS, *ACCOUNT_OPTIONS]:
        assert f"\n{key} = " in text or f"\n# {key} = " in text


def test_example_loads(tmp_path):
    secret = tmp_path / "home" / ".config" / "claimwatch" / "amazon-fr.pass"
    secret.parent.mkdir(parents=True)
    secret.write_text("hunter2\n")
    secret.chmod(0o600)
    config = load_config(EXAMPLE)
    (account,) = config.accounts
    assert (account.name, account.host, account.port) == ("amazon-fr", "imap.example.com", 993)
    assert account.password_file == secret
    assert config.data_dir == tmp_path / "home" / ".local" / "share" / "claimwatch"
    assert read_secret(account) == "hunter2"


# --- secrets -------------------------------------------------------------------------------------

BASE = Account(
    name="amazon-fr",
    host="imap.example.com",
    port=993,
    security="tls",
    username="seller@example.com",
    auth="login",
    password_file=None,
    password_command=None,
    password_env=None,
    folders=("INBOX",),
    ca_file=None,
    idle=True,
    poll_interval=60.0,
)


def account(**changes) -> Account:
    return dataclasses.replace(BASE, **changes)


@pytest.mark.parametrize(
    ("command", "secret"),
    [("printf s3cret", "s3cret"), ("echo s3cret", "s3cret"), ("printf '  a b  \\n'", "  a b  ")],
)
def test_password_command(command, secret):
    assert read_secret(account(password_command=command)) == secret


def test_password_command_failure_shows_status_and_stderr_not_stdout():
    command = "echo leaked-secret; echo first >&2; echo 'gpg: decryption failed' >&2; exit 3"
    with pytest.raises(SecretError) as info:
        read_secret(account(password_command=command))
    assert str(info.value) == (
        "account 'amazon-fr': password_command exited with status 3: gpg: decryption failed"
    )


def test_password_command_empty_output():
    with pytest.raises(SecretError, match="account 'amazon-fr': password_command output is empty"):
        read_secret(account(password_command="true"))


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_password_command_timeout_kills_the_whole_group(tmp_path):
    pidfile = tmp_path / "pid"
    command = f"sleep 60 & echo $! > {pidfile}; wait"
    started = time.monotonic()
    with pytest.raises(SecretError, match=r"password_command did not finish within 0\.5 s"):
        read_secret(account(password_command=command), timeout=0.5)
    assert time.monotonic() - started < 5
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(pid)


def test_password_file_private_accepted_and_read_each_time(tmp_path):
    path = tmp_path / "pw"
    path.write_text("first\n")
    path.chmod(0o600)
    acct = account(password_file=path)
    assert read_secret(acct) == "first"
    path.write_text("rotated\n")
    assert read_secret(acct) == "rotated"


def test_password_file_readable_by_others_rejected_at_load(tmp_path):
    secret = tmp_path / "amazon-fr.pass"
    secret.write_text("pw\n")
    secret.chmod(0o644)
    path, error = load_error(tmp_path, ACCOUNT + f'password_file = "{secret}"\n')
    assert error == (
        f"{path}: accounts[0] (amazon-fr).password_file: {secret} is readable by group/others "
        f"(mode 0644); run: chmod 600 {secret}"
    )


def test_password_file_rechecked_when_read(tmp_path):
    secret = tmp_path / "amazon-fr.pass"
    secret.write_text("pw\n")
    secret.chmod(0o600)
    (acct,) = load_config(write(tmp_path, ACCOUNT + f'password_file = "{secret}"\n')).accounts
    secret.chmod(0o640)
    with pytest.raises(SecretError) as info:
        read_secret(acct)
    assert str(info.value) == (
        f"account 'amazon-fr': password_file {secret} is readable by group/others (mode 0640); "
        f"run: chmod 600 {secret}"
    )


def test_password_file_relative_to_config(tmp_path):
    (tmp_path / "amazon-fr.pass").write_text("pw")
    (tmp_path / "amazon-fr.pass").chmod(0o600)
    (acct,) = load_config(write(tmp_path, ACCOUNT + 'password_file = "amazon-fr.pass"\n')).accounts
    assert acct.password_file == tmp_path / "amazon-fr.pass"


def test_password_env(monkeypatch):
    acct = account(password_env="CW_TEST_PW")
    with pytest.raises(SecretError, match="password_env variable 'CW_TEST_PW' is not set"):
        read_secret(acct)
    monkeypatch.setenv("CW_TEST_PW", "")
    with pytest.raises(SecretError, match="password_env variable 'CW_TEST_PW' is empty"):
        read_secret(acct)
    monkeypatch.setenv("CW_TEST_PW", "s3cret")
    assert read_secret(acct) == "s3cret"


def test_systemd_credential(tmp_path, monkeypatch):
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "amazon-fr").write_text("from-systemd\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert read_secret(BASE) == "from-systemd"


@pytest.mark.parametrize("with_dir", [False, True])
def test_no_secret_source_lists_the_four_options(tmp_path, monkeypatch, with_dir):
    if with_dir:
        monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    with pytest.raises(SecretError) as info:
        read_secret(BASE)
    message = str(info.value)
    for option in ("password_command", "password_file", "password_env", "LoadCredential=amazon-fr"):
        assert option in message
    why = f"no credential file {tmp_path / 'amazon-fr'}" if with_dir else "is not set"
    assert why in message


def test_xoauth2_with_token_helper(tmp_path):
    text = ACCOUNT + 'auth = "xoauth2"\npassword_command = "printf ya29.token"\n'
    (acct,) = load_config(write(tmp_path, text)).accounts
    assert acct.auth == "xoauth2"
    assert read_secret(acct) == "ya29.token"


def test_secret_not_kept_in_config(tmp_path, monkeypatch):
    monkeypatch.setenv("CW_TEST_PW", "s3cret-value")
    config = load_config(write(tmp_path, ACCOUNT + 'password_env = "CW_TEST_PW"\n'))
    assert "s3cret-value" not in repr(config)
    assert os.environ["CW_TEST_PW"] == "s3cret-value"
