"""Nothing an administrator configured is ignored silently.

A Postfix parameter this version does not implement (lib/global/config_implemented.c
lists the ones it does), set in main.cf or by a master.cf -o to something
other than its default, is a warning from `postfix check` and `postfix start`
naming file, line and parameter. An smtpd restriction smtpd cannot evaluate
is an error from `postfix check` (non-zero exit) and a warning from
`postfix start`; at run time it is 451 4.3.5, announced. Debian 12's and
CentOS 8's stock main.cf and master.cf start without any of this."""
import os
import re
import subprocess

from agent_helpers import deliver, message, tls_receiver
from conftest import BIN, DATA
from smtp_helpers import Raw

SMTPD_CF = """\
127.0.0.1:{port_smtp} inet n - n - - smtpd
cleanup unix n - n - 0 cleanup
"""

SUBMISSION_CF = SMTPD_CF + """\
127.0.0.1:{port_submission} inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_proxy_filter=127.0.0.1:10025
  -o smtpd_client_restrictions=$mua_client_restrictions
"""

NOT_IMPLEMENTED = "not implemented in this version; the setting has no effect"


def line_of(path, prefix):
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.startswith(prefix):
                return n
    raise AssertionError("%s not in %s" % (prefix, path))


def main_cf(inst):
    return os.path.join(inst.config_dir, "main.cf")


def master_cf(inst):
    return os.path.join(inst.config_dir, "master.cf")


def param_warning(path, line, name, service=None):
    where = "%s, line %d: " % (path, line)
    if service:
        where += "service %s: " % service
    return "%sparameter %s: %s" % (where, name, NOT_IMPLEMENTED)


def start(inst):
    r = inst.postfix("start")
    inst.master_pid = inst.read_pid()
    inst.wait_log(r"daemon started")
    return r


def test_unimplemented_in_main_cf_is_announced(instance):
    inst = instance(SMTPD_CF, main_cf_extra="smtpd_proxy_filter = 127.0.0.1:10025\n",
                    start=False)
    text = param_warning(main_cf(inst), line_of(main_cf(inst), "smtpd_proxy_filter "),
                         "smtpd_proxy_filter")
    r = inst.postfix("check")
    assert r.stderr.count("warning: " + text) == 1, r.stderr
    assert re.search(r"postfix/postfix-script\[\d+\]: warning: %s" % re.escape(text), inst.log())
    mark = inst.log_mark()
    r = start(inst)
    # postfix start prints it (master's stderr is still ours) and master logs it, once.
    assert r.stderr.count("warning: " + text) == 1, r.stderr
    assert len(re.findall(r"postfix/master\[\d+\]: warning: %s" % re.escape(text),
                          inst.log()[mark:])) == 1
    # Said again on reload, once (main.cf was read again).
    inst.reload()
    assert len(re.findall(r"postfix/master\[\d+\]: warning: %s" % re.escape(text),
                          inst.log()[mark:])) == 2


def test_master_cf_override_is_announced_with_its_line(instance):
    inst = instance(SUBMISSION_CF, main_cf_extra="mua_client_restrictions = "
                    "permit_sasl_authenticated, permit_mynetworks, reject\n", start=False)
    line = line_of(master_cf(inst), "127.0.0.1:%d" % inst.port("submission"))
    text = param_warning(master_cf(inst), line, "smtpd_proxy_filter",
                         service="127.0.0.1:%d/inet" % inst.port("submission"))
    r = inst.postfix("check")
    assert r.stderr.count("warning: " + text) == 1, r.stderr
    # The user-defined mua_client_restrictions and syslog_name are honoured.
    assert r.stderr.count("warning:") == 1, r.stderr
    r = start(inst)
    assert r.stderr.count("warning: " + text) == 1, r.stderr


def test_settings_equal_to_the_default_are_quiet(instance):
    """Stock files spell defaults out, in their own way: no warning for
    what means the default (compared expanded and by type)."""
    extra = ("smtpd_proxy_filter =\n"              # the default, empty
             "virtual_alias_maps = $virtual_maps\n"  # the default, as written by postconf -d
             "soft_bounce = NO\n"                  # "no"
             "address_verify_negative_expire_time = 72h\n"  # 3d
             "address_verify_map = btree:$data_directory/verify_cache\n"
             "biff = no\n"                         # what we do (we never notify comsat)
             "delay_warning_time = 4h\n")          # implemented
    inst = instance(SMTPD_CF + "relay unix - - n - - smtp\n  -o smtp_header_checks=\n"
                    "  -o smtp_bind_address=127.0.0.1\n", main_cf_extra=extra, start=False)
    # ... and only the one setting that is not the default is said.
    text = param_warning(master_cf(inst), 3, "smtp_bind_address", service="relay/unix")
    r = inst.postfix("check")
    assert r.stderr.count("warning:") == 1 and "warning: " + text in r.stderr, r.stderr
    assert "error" not in r.stderr, r.stderr
    r = start(inst)
    assert r.stderr.count("warning:") == 1 and "warning: " + text in r.stderr, r.stderr
    assert inst.log().count("warning:") == 2, inst.log()  # postfix check's and master's


def test_unimplemented_restriction_fails_check_and_gets_451(instance):
    extra = ("smtpd_recipient_restrictions = permit_sasl_authenticated,\n"
             "    check_sasl_access hash:/etc/postfix/sasl_access, reject_unauth_destination\n")
    inst = instance(SMTPD_CF, main_cf_extra=extra, start=False)
    where = "%s, line %d" % (main_cf(inst), line_of(main_cf(inst), "smtpd_recipient_restrictions"))
    text = ("%s: parameter smtpd_recipient_restrictions: restriction check_sasl_access: "
            "not implemented in this version; smtpd answers 451 4.3.5 when evaluation gets there"
            % where)
    r = inst.postfix("check", check=False)
    assert r.returncode != 0
    assert r.stderr.count("error: " + text) == 1, r.stderr
    assert "1 smtpd restriction that this version cannot evaluate" in r.stderr
    # The argument (hash:...) is not reported as a restriction of its own.
    assert "hash:/etc/postfix/sasl_access" not in r.stderr
    r = start(inst)
    assert r.stderr.count("warning: " + text) == 1, r.stderr
    # At run time: 451, never an accept; and said in the log.
    c = Raw(inst.port("smtp"))
    assert c.reply()[0].startswith("220")
    c.send("EHLO client.example\r\n")
    c.reply()
    c.send("MAIL FROM:<a@client.example>\r\n")
    assert c.reply()[0].startswith("250")
    c.send("RCPT TO:<someone@remote.example>\r\n")
    assert c.reply() == ["451 4.3.5 Server configuration error"]
    c.send("QUIT\r\n")
    c.reply()
    inst.wait_log(r"postfix/smtpd\[\d+\]: warning: smtpd_recipient_restrictions: restriction "
                  r"\"check_sasl_access\": not implemented in this version; answering "
                  r"451 4.3.5")
    inst.wait_log(r"NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: 451 4\.3\.5 Server "
                  r"configuration error; from=<a@client\.example> to=<someone@remote\.example>")


def test_restriction_classes_are_checked_not_unused(instance):
    """smtpd_restriction_classes names are user-defined parameters: no
    "unused parameter" for them; postfix check checks each class's list and
    names the class's own main.cf line."""
    extra = ("smtpd_restriction_classes = strict, typo\n"
             "strict = reject_non_fqdn_sender, reject\n"
             "typo = permit_mynetwork\n"
             "smtpd_recipient_restrictions = check_sender_access texthash:/nonexistent, "
             "reject_unauth_destination\n")
    inst = instance(SMTPD_CF, main_cf_extra=extra, start=False)
    where = "%s, line %d" % (main_cf(inst), line_of(main_cf(inst), "typo ="))
    r = inst.postfix("check", check=False)
    assert r.returncode != 0
    assert ("error: %s: parameter typo: restriction permit_mynetwork: unknown restriction; smtpd "
            "answers 451 4.3.5 when evaluation gets there" % where) in r.stderr, r.stderr
    assert r.stderr.count("error:") == 1, r.stderr
    assert "unused parameter" not in r.stderr, r.stderr
    r = start(inst)
    assert "unused parameter" not in r.stderr, r.stderr
    assert "unused parameter" not in inst.log()
    r = subprocess.run([os.path.join(BIN, "postconf"), "-c", inst.config_dir, "-n"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "typo = permit_mynetwork" in r.stdout, r.stderr
    assert "unused parameter" not in r.stderr, r.stderr


def test_restriction_in_a_master_cf_override_is_reported_there(instance):
    inst = instance(SUBMISSION_CF.replace("  -o smtpd_proxy_filter=127.0.0.1:10025\n", ""),
                    main_cf_extra="mua_client_restrictions = permit_sasl_authenticated, "
                    "check_sasl_access hash:/etc/postfix/sasl_access, reject\n", start=False)
    line = line_of(master_cf(inst), "127.0.0.1:%d" % inst.port("submission"))
    r = inst.postfix("check", check=False)
    assert r.returncode != 0
    assert ("error: %s, line %d: service 127.0.0.1:%d/inet: parameter smtpd_client_restrictions: "
            "restriction check_sasl_access: not implemented in this version"
            % (master_cf(inst), line, inst.port("submission"))) in r.stderr, r.stderr
    assert r.stderr.count("error:") == 1, r.stderr


def test_data_restrictions_refuse_data(instance):
    """A restriction we do not have in smtpd_end_of_data_restrictions: the end
    of data gets 451 4.3.5 (it could have rejected the message), and postfix
    check says so."""
    inst = instance(SMTPD_CF, main_cf_extra="smtpd_end_of_data_restrictions = reject_unverified_sender\n"
                    "mydestination = $myhostname, localhost\nlocal_recipient_maps =\n",
                    start=False)
    r = inst.postfix("check", check=False)
    assert r.returncode != 0
    assert ("parameter smtpd_end_of_data_restrictions: restriction reject_unverified_sender: not "
            "implemented in this version; smtpd answers 451 4.3.5 when evaluation gets there"
            in r.stderr), r.stderr
    start(inst)
    c = Raw(inst.port("smtp"))
    c.reply()
    c.send("EHLO client.example\r\n")
    c.reply()
    c.send("MAIL FROM:<a@client.example>\r\n")
    c.reply()
    c.send("RCPT TO:<someone@mta-test.example>\r\n")
    assert c.reply()[0].startswith("250")
    c.send("DATA\r\n")
    assert c.reply()[0].startswith("354")
    c.send("Subject: t\r\n\r\nhi\r\n.\r\n")
    assert c.reply() == ["451 4.3.5 Server configuration error"]
    c.send("QUIT\r\n")
    c.reply()
    inst.wait_log(r"[0-9A-F]+: reject: END-OF-MESSAGE from localhost\[127\.0\.0\.1\]: 451 4\.3\.5 "
                  r"Server configuration error; from=<a@client\.example> to=<someone@mta-test\.example>")


# ---- Debian 12 and CentOS 8 stock files ------------------------------------

INSTANCE_PATHS = {
    "queue_directory": "{tmp}/queue",
    "data_directory": "{tmp}/data",
    "daemon_directory": "{bin}",
    "command_directory": "{bin}",
    "maillog_file": "{tmp}/maillog",
    "import_environment": "MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C ASAN_OPTIONS "
                          "UBSAN_OPTIONS LSAN_OPTIONS",
}

# Files the stock main.cf names, moved into the instance.
STOCK_FILES = {
    "/etc/ssl/certs/ssl-cert-snakeoil.pem": "{tmp}/cert.pem",
    "/etc/ssl/private/ssl-cert-snakeoil.key": "{tmp}/key.pem",
    "/etc/pki/tls/certs/postfix.pem": "{tmp}/cert.pem",
    "/etc/pki/tls/private/postfix.key": "{tmp}/key.pem",
    "/etc/mailname": "{tmp}/mailname",
    "/etc/aliases": "{tmp}/etc/aliases",
    # CentOS's trust store, where Debian keeps it (after postfix.pem above).
    "/etc/pki/tls/certs/ca-bundle.crt": "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs": "/etc/ssl/certs",
}


def stock_main_cf(name):
    """The stock file with the instance's paths: a parameter the file sets
    gets its value replaced in place (a second definition would itself be
    warned about), the others are added."""
    with open(os.path.join(DATA, name)) as f:
        text = f.read().replace("{", "{{").replace("}", "}}")
    for path, mine in STOCK_FILES.items():
        text = text.replace(path, mine)
    for param, value in INSTANCE_PATHS.items():
        text, n = re.subn(r"^%s\s*=.*$" % param, "%s = %s" % (param, value), text, flags=re.M)
        if n == 0:
            text += "%s = %s\n" % (param, value)
    return text


def stock_master_cf(name):
    with open(os.path.join(DATA, name)) as f:
        text = f.read().replace("{", "{{").replace("}", "}}")
    # Port 25 may be taken: the smtpd listener moves to a free loopback port.
    return re.sub(r"^smtp(\s+)inet", r"127.0.0.1:{port_smtp}\1inet", text, count=1, flags=re.M)


def missing_program(line):
    """A stock service whose program this build does not have: master says
    so, as it should -- the only warning allowed."""
    m = re.search(r"warning: service \S+: command (\S+): No such file or directory -- skipped$",
                  line)
    return m is not None and not os.path.exists(m.group(1))


def stock_instance(instance, main_name, master_name):
    inst = instance(stock_master_cf(master_name), start=False)
    with open(main_cf(inst), "w") as f:
        f.write(inst._fill(stock_main_cf(main_name)))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=stock.example", "-keyout", os.path.join(inst.tmp, "key.pem"),
                    "-out", os.path.join(inst.tmp, "cert.pem")], check=True, capture_output=True)
    with open(os.path.join(inst.tmp, "mailname"), "w") as f:
        f.write("stock.example\n")
    with open(os.path.join(inst.config_dir, "aliases"), "w") as f:
        f.write("postmaster: root\n")
    subprocess.run([os.path.join(BIN, "postalias"), os.path.join(inst.config_dir, "aliases")],
                   check=True)
    return inst


def assert_quiet(text, what):
    for line in text.splitlines():
        if re.search(r"\b(warning|error|fatal|panic): ", line):
            assert missing_program(line), "%s: %s\n%s" % (what, line, text[-3000:])


def check_stock(instance, tmp_path, main_name, master_name):
    """Quiet check and start; smtpd serves; the stock smtp client (chrooted
    in Debian's master.cf) delivers over TLS. Returns the TLS receiver's
    log after two deliveries."""
    inst = stock_instance(instance, main_name, master_name)
    r = inst.postfix("check")
    assert_quiet(r.stderr, "postfix check")
    assert "warning" not in r.stderr
    r = start(inst)
    assert_quiet(r.stderr, "postfix start")
    # smtpd starts with the stock settings and offers STARTTLS.
    c = Raw(inst.port("smtp"))
    assert c.reply()[0].startswith("220")
    c.send("EHLO client.example\r\n")
    assert "250-STARTTLS" in c.reply()
    c.send("QUIT\r\n")
    c.reply()
    inst.wait_log(r"disconnect from \S+\[127\.0\.0\.1\]")
    # The stock smtp transport, with the stock TLS settings.
    rx = tls_receiver(instance, os.path.join(inst.tmp, "cert.pem"),
                      os.path.join(inst.tmp, "key.pem"))
    for n in (1, 2):
        qid, res = deliver(inst, "[127.0.0.1]:%d" % rx.port("smtp"), "a@stock.example",
                           "x@dest.test", message())
        assert res["x@dest.test"][0] == "sent", res
        rx.wait_log(r"TLS connection established from", count=n)
    assert_quiet(inst.log(), "the log")
    assert "unused parameter" not in inst.log() and "not implemented" not in inst.log()
    # The quiet is not deafness: one unimplemented setting more is said.
    with open(main_cf(inst), "a") as f:
        f.write("smtpd_proxy_filter = 127.0.0.1:10025\n")
    r = inst.postfix("check")
    assert r.stderr.count("warning:") == 1, r.stderr
    assert "parameter smtpd_proxy_filter: " + NOT_IMPLEMENTED in r.stderr
    return rx.log()


def test_debian12_stock_configuration_starts_quietly(instance, tmp_path):
    log = check_stock(instance, tmp_path, "main.cf.debian12", "master.cf.debian")
    # smtp_tls_session_cache_database is honoured: the second delivery,
    # by another chrooted smtp process or not, resumes the first's session.
    assert log.count("Reusing old session") == 1, log[-3000:]


def test_centos8_stock_configuration_starts_quietly(instance, tmp_path):
    log = check_stock(instance, tmp_path, "main.cf.centos8", "master.cf.centos8")
    assert "Reusing old session" not in log  # no cache configured there
