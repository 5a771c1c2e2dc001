"""The checksum behind conftest's `system_untouched` session fixture (which
fails the run when /etc/postfix, /var/spool/postfix or /etc/aliases differ
after it): it must see every change that matters and nothing else."""
import os
import socket
import tempfile

from conftest import SYSTEM_PATHS, build_default_config_dir, tree_digest


def test_digest_sees_names_modes_contents_not_sockets():
    with tempfile.TemporaryDirectory() as top:
        assert tree_digest(os.path.join(top, "absent")) is None
        os.mkdir(os.path.join(top, "d"))
        path = os.path.join(top, "d", "f")
        with open(path, "w") as f:
            f.write("a")
        base = tree_digest(top)
        assert tree_digest(top) == base
        with open(path, "w") as f:
            f.write("b")
        assert tree_digest(top) != base
        with open(path, "w") as f:
            f.write("a")
        assert tree_digest(top) == base
        os.chmod(path, 0o600)
        assert tree_digest(top) != base
        os.chmod(path, 0o644)
        os.chmod(path, os.stat(path).st_mode & 0o7777)
        base = tree_digest(top)
        os.rename(path, path + "2")
        assert tree_digest(top) != base
        os.rename(path + "2", path)
        assert tree_digest(top) == base
        with open(os.path.join(top, "new"), "w"):
            pass
        assert tree_digest(top) != base
        os.unlink(os.path.join(top, "new"))
        os.symlink("x", os.path.join(top, "l"))
        with_link = tree_digest(top)
        assert with_link != base
        os.unlink(os.path.join(top, "l"))
        os.symlink("y", os.path.join(top, "l"))
        assert tree_digest(top) != with_link
        os.unlink(os.path.join(top, "l"))
        # A socket is there by name only (a running master's private/ ones).
        s = socket.socket(socket.AF_UNIX)
        s.bind(os.path.join(top, "d", "sock"))
        with_sock = tree_digest(top)
        s.close()
        assert tree_digest(top) == with_sock


def test_test_build_has_its_own_config_directory():
    """scripts/test.sh configures the test builds with -DMTA_CONFIG_DIR=
    <build>/test-etc; a build compiled for /etc/postfix would make the
    setgid tests need the machine's main.cf."""
    d = build_default_config_dir()
    assert not any(d == p or d.startswith(p + "/") for p in SYSTEM_PATHS), d
