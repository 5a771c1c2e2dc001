"""An after-queue content filter for tests: a handler for Debian's aiosmtpd
server (python3-aiosmtpd), run as its own program:

    python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c aiosmtpd_reinject.Reinject \\
        127.0.0.1 REINJECT_PORT 'X-Header: value'

It behaves the way amavisd-new does in Postfix's FILTER_README setup: it
adds one header line at the top of every message, relays the message
(same envelope) over SMTP to the MTA's re-injection listener, and answers
the MTA only after that: with the listener's own reply quoted
("250 2.0.0 from MTA(smtp:[host]:port): 250 2.0.0 Ok: queued as ID", so
the MTA's log links the two queue IDs), or with a 4xx when the re-injection
failed (the mail stays in the MTA's queue). aiosmtpd's stock Proxy handler
answers 250 whatever happened downstream and cannot be given its target on
the command line; hence this small handler.
"""
import asyncio
import smtplib


class Reinject:
    def __init__(self, host, port, header):
        self.host = host
        self.port = int(port)
        self.header = header.encode("ascii")

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 3:
            parser.error("Reinject takes: HOST PORT 'Header: value'")
        return cls(*args)

    def _relay(self, mail_from, rcpt_tos, data):
        with smtplib.SMTP(self.host, self.port, local_hostname="filter.example",
                          timeout=20) as s:
            s.ehlo()
            code, msg = s.mail(mail_from)
            if code != 250:
                return code, msg.decode(errors="replace").replace("\n", " ")
            for rcpt in rcpt_tos:
                code, msg = s.rcpt(rcpt)
                if code != 250:
                    return code, msg.decode(errors="replace").replace("\n", " ")
            code, msg = s.data(data)
            return code, msg.decode(errors="replace").replace("\n", " ")

    async def handle_DATA(self, server, session, envelope):
        data = self.header + b"\r\n" + envelope.original_content
        loop = asyncio.get_running_loop()
        try:
            code, msg = await loop.run_in_executor(
                None, self._relay, envelope.mail_from, envelope.rcpt_tos, data)
        except (OSError, smtplib.SMTPException) as e:
            return "451 4.3.0 re-injection failed: %s" % str(e).replace("\n", " ")[:200]
        where = "from MTA(smtp:[%s]:%d)" % (self.host, self.port)
        if code == 250:
            return "250 2.0.0 %s: 250 %s" % (where, msg)
        return "%d %s %s: %d %s" % (code, "5.3.0" if code >= 500 else "4.3.0", where, code, msg)
