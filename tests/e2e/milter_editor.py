#!/usr/bin/python3
"""A milter on libmilter (Debian's python3-milter) for the e2e tests: it
asks for every modification the protocol has, chosen by the Subject:

  mods        add, insert (top), change and delete headers (X-Macros: the
              macros it was given), replace the
              body, add a recipient, delete one, change the sender
  quarantine  quarantine (Postfix: hold)
  discard     discard at end of message
  tempfail    a multi-line 451 reply at end of message
and at RCPT time rejects <root@...> with 550 5.7.1.

Usage: milter_editor.py PORT ADDED_RCPT DELETED_RCPT NEW_SENDER"""
import sys

import Milter

PORT, ADDED, DELETED, SENDER = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]


class Editor(Milter.Base):
    def __init__(self):
        self.subject = ""
        self.macros = {}

    @Milter.noreply
    def connect(self, hostname, family, hostaddr):
        return Milter.CONTINUE

    def envfrom(self, mailfrom, *args):
        self.subject = ""
        self.macros = {"mail_addr": self.getsymval("{mail_addr}"),
                       "j": self.getsymval("j")}
        return Milter.CONTINUE

    def envrcpt(self, to, *args):
        if to.lower().startswith("<root@"):
            self.setreply("550", "5.7.1", "Blocked by milter")
            return Milter.REJECT
        self.macros.setdefault("rcpt_mailer", self.getsymval("{rcpt_mailer}"))
        self.macros.setdefault("rcpt_addr", self.getsymval("{rcpt_addr}"))
        return Milter.CONTINUE

    def header(self, name, value):
        if name.lower() == "subject":
            self.subject = value.strip()
        return Milter.CONTINUE

    def eom(self):
        s = self.subject
        if s.startswith("mods"):
            self.macros["i"] = self.getsymval("i")
            self.addheader("X-Macros", " ".join("%s=%s" % kv for kv in sorted(self.macros.items())))
            self.addheader("X-Added", "added by milter")
            self.addheader("X-Inserted", "at the top", 0)
            self.chgheader("X-Change", 1, "changed by milter")
            self.chgheader("X-Remove", 1, "")
            self.chgheader("X-Twice", 2, "second changed")
            self.replacebody(b"The body was replaced.\r\nSecond line.\r\n")
            self.addrcpt("<%s>" % ADDED)
            self.delrcpt("<%s>" % DELETED)
            self.chgfrom("<%s>" % SENDER)
            return Milter.ACCEPT
        if s.startswith("quarantine"):
            self.quarantine("looks odd")
            return Milter.ACCEPT
        if s.startswith("discard"):
            return Milter.DISCARD
        if s.startswith("tempfail"):
            self.setreply("451", "4.7.1", "Try again", "later please")
            return Milter.TEMPFAIL
        return Milter.ACCEPT


def main():
    Milter.factory = Editor
    Milter.set_flags(Milter.ADDHDRS | Milter.CHGHDRS | Milter.CHGBODY | Milter.ADDRCPT |
                     Milter.DELRCPT | Milter.CHGFROM | Milter.QUARANTINE)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    Milter.runmilter("editor", "inet:%s@127.0.0.1" % PORT, 30)


if __name__ == "__main__":
    main()
