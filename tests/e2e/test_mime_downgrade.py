"""8BITMIME -> 7bit: our smtp client talking to a peer that does not
announce 8BITMIME converts 8-bit MIME parts to quoted-printable (Postfix's
behaviour unless disable_mime_output_conversion = yes). The peer is a tiny
SMTP server written here (Python 3.11 has no smtpd module; smtp-sink always
announces 8BITMIME)."""
import email
import email.policy
import socket
import threading

from test_smtp_client import agent, deliver


class PlainSmtpPeer:
    """ESMTP without 8BITMIME: EHLO answers "250-PIPELINING", "250 SIZE"."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.sock.settimeout(60)
        self.port = self.sock.getsockname()[1]
        self.messages = []
        self.mail_from = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(60)
            f = conn.makefile("rb")
            conn.sendall(b"220 plain.test ESMTP\r\n")
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.strip().upper()
                if cmd.startswith(b"EHLO"):
                    conn.sendall(b"250-plain.test\r\n250-PIPELINING\r\n250 SIZE 100000000\r\n")
                elif cmd.startswith(b"MAIL"):
                    self.mail_from.append(line)
                    conn.sendall(b"250 2.1.0 Ok\r\n")
                elif cmd.startswith(b"RCPT"):
                    conn.sendall(b"250 2.1.5 Ok\r\n")
                elif cmd == b"DATA":
                    conn.sendall(b"354 go ahead\r\n")
                    data = b""
                    while True:
                        ln = f.readline()
                        if not ln or ln == b".\r\n":
                            break
                        data += ln[1:] if ln.startswith(b"..") else ln
                    self.messages.append(data)
                    conn.sendall(b"250 2.0.0 Ok: queued\r\n")
                elif cmd == b"QUIT":
                    conn.sendall(b"221 2.0.0 Bye\r\n")
                    return
                else:
                    conn.sendall(b"250 2.0.0 Ok\r\n")

    def close(self):
        self.sock.close()
        self.thread.join(timeout=10)


TEXT = "Grüße aus Tartu: äöü ÄÖÜ ß € — façade\n.leading dot\nline with trailing space \n"
LONG = "x" * 100 + "é" * 60 + "\n"


def multipart_message():
    return ("From: a@client.test\nTo: b@dest.test\nSubject: 8bit\n"
            "Date: Mon, 24 Nov 2025 10:00:00 +0000\nMessage-ID: <m1@client.test>\n"
            "MIME-Version: 1.0\n"
            "Content-Type: multipart/mixed; boundary=\"=_b\"\n"
            "Content-Transfer-Encoding: 8bit\n\n"
            "This is a multi-part message.\n"
            "--=_b\n"
            "Content-Type: text/plain; charset=utf-8\n"
            "Content-Transfer-Encoding: 8bit\n\n" + TEXT + LONG +
            "--=_b\n"
            "Content-Type: application/octet-stream\n"
            "Content-Transfer-Encoding: base64\n\n"
            "AAECAwQ=\n"
            "--=_b--\n").encode()


def test_8bit_multipart_to_peer_without_8bitmime(instance):
    peer = PlainSmtpPeer()
    try:
        inst = agent(instance)
        _, res = deliver(inst, "[127.0.0.1]:%d" % peer.port, "a@client.test", "b@dest.test",
                         multipart_message())
        assert res["b@dest.test"][0] == "sent", res
    finally:
        peer.close()
    assert len(peer.messages) == 1
    raw = peer.messages[0]
    assert all(b < 0x80 for b in raw), "8-bit bytes on the wire"
    assert max(len(ln) for ln in raw.split(b"\r\n")) <= 78
    assert b"BODY=8BITMIME" not in peer.mail_from[0]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Content-Transfer-Encoding"] == "7bit"
    text, binary = list(msg.iter_parts())
    assert text["Content-Transfer-Encoding"] == "quoted-printable"
    # the wire's CRLF comes back as line ends; the last one belongs to the
    # boundary (RFC 2046 5.1.1)
    assert text.get_content().replace("\r\n", "\n") == (TEXT + LONG)[:-1]
    assert binary["Content-Transfer-Encoding"] == "base64"
    assert binary.get_content() == b"\x00\x01\x02\x03\x04"


def test_8bit_single_part_and_undeclared_body(instance):
    inst = agent(instance)
    for body, declared in ((TEXT, True), ("plain 8-bit body: naïve\n", False)):
        hdr = "From: a@client.test\nTo: b@dest.test\nSubject: s\n"
        if declared:
            hdr += ("MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
                    "Content-Transfer-Encoding: 8bit\n")
        peer = PlainSmtpPeer()
        try:
            _, res = deliver(inst, "[127.0.0.1]:%d" % peer.port, "a@client.test",
                             "b@dest.test", (hdr + "\n" + body).encode())
            assert res["b@dest.test"][0] == "sent", res
        finally:
            peer.close()
        raw = peer.messages[0]
        assert all(b < 0x80 for b in raw)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert msg["Content-Transfer-Encoding"] == "quoted-printable"
        assert msg["MIME-Version"] == "1.0"
        assert msg.get_payload(decode=True).decode("utf-8").replace("\r\n", "\n") == body


def test_disable_mime_output_conversion_sends_8bit(instance):
    inst = agent(instance, "disable_mime_output_conversion = yes\n")
    peer = PlainSmtpPeer()
    try:
        qid, res = deliver(inst, "[127.0.0.1]:%d" % peer.port, "a@client.test", "b@dest.test",
                           multipart_message())
        assert res["b@dest.test"][0] == "sent", res
    finally:
        peer.close()
    assert "Grüße".encode() in peer.messages[0]
    inst.wait_log(r"%s: host .* does not announce 8BITMIME; sending 8-bit content unconverted"
                  % qid)
