"""Helpers for the smtpd/cleanup end-to-end tests: an instance with smtpd and
cleanup, raw SMTP sockets, and queue-file inspection through qf_dump (the
queue module's own reader)."""
import os
import re
import smtplib
import socket
import stat
import subprocess
import time

from conftest import BIN

SMTP_CF = """\
127.0.0.1:{port_smtp} inet n - n - - smtpd
cleanup unix n - n - 0 cleanup
"""

BASE_EXTRA = """\
local_recipient_maps = unix:passwd.byname
alias_maps =
smtpd_error_sleep_time = 0
"""


def start(instance, extra="", master_cf=SMTP_CF):
    inst = instance(master_cf=master_cf, main_cf_extra=BASE_EXTRA + extra)
    inst.wait_log(r"daemon started")
    return inst


class Raw:
    """A raw SMTP connection: bytes in, reply lines out."""

    def __init__(self, port, source=None, timeout=20):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if source:
            self.sock.bind((source, 0))
        self.sock.connect(("127.0.0.1", port))
        self.f = self.sock.makefile("rb")

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self):
        return self.f.readline().decode("latin-1")

    def reply(self):
        """A whole (possibly multi-line) reply as a list of lines."""
        out = []
        while True:
            ln = self.line()
            if not ln:
                return out
            out.append(ln.rstrip("\r\n"))
            if len(ln) < 4 or ln[3] != "-":
                return out

    def code(self):
        r = self.reply()
        return int(r[-1][:3]) if r else None

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.reply()

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass


def incoming(inst):
    d = os.path.join(inst.queue_dir, "incoming")
    try:
        return sorted(os.listdir(d))
    except FileNotFoundError:
        return []


def queue_mode(inst, qid):
    return stat.S_IMODE(os.stat(os.path.join(inst.queue_dir, "incoming", qid)).st_mode)


def dump(inst, qid):
    r = subprocess.run([os.path.join(BIN, "qf_dump"), os.path.join(inst.queue_dir, "incoming", qid)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def recipients(lines):
    return [ln.split(" ", 3)[3].split("|")[0] for ln in lines if ln.startswith("R ")]


def content(lines):
    return [ln[2:] for ln in lines if ln.startswith("N ")]


def queued_id(reply_line):
    m = re.search(r"queued as ([0-9A-Za-z]+)", reply_line)
    assert m, reply_line
    return m.group(1)


def drop(s):
    """Close an smtplib connection that failed (None: nothing); returns None
    for the caller's `s = drop(s)`."""
    if s is not None:
        try:
            s.close()
        except OSError:
            pass
    return None


def quit_quietly(s):
    """QUIT a connection that may already be broken (None: nothing)."""
    if s is not None:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass
