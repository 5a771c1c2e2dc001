"""A receiving SMTP server for tests that must see connections: a handler
for Debian's aiosmtpd (python3-aiosmtpd), run as its own program:

    python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c aiosmtpd_counter.Counter \\
        LOGFILE [hangup]

Every message it accepts appends one line "<client port> <Subject>" to
LOGFILE, so the lines with the same client port came over one connection.
With "hangup" it closes the connection right after its reply to each
message, the way a server that limits messages per connection does (the
client sees the next MAIL FROM fail)."""
import asyncio
import email.parser


class Counter:
    def __init__(self, logfile, mode=""):
        self.logfile = logfile
        self.hangup = mode == "hangup"

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) not in (1, 2) or (len(args) == 2 and args[1] != "hangup"):
            parser.error("Counter takes: LOGFILE [hangup]")
        return cls(*args)

    async def handle_DATA(self, server, session, envelope):
        headers = email.parser.BytesHeaderParser().parsebytes(envelope.original_content)
        with open(self.logfile, "a") as f:
            f.write("%d %s\n" % (session.peer[1], headers.get("Subject", "")))
        if self.hangup:
            # After the reply is written: close() flushes what is buffered.
            asyncio.get_running_loop().call_soon(server.transport.close)
        return "250 2.0.0 Ok: counted"
