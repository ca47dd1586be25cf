"""Creates the simcluster API endpoint's CA, server certificate, bearer token and kubeconfig."""

import base64
import fcntl
import os
import secrets
import subprocess
import tempfile

CA_KEY, CA_CERT = "ca.key", "ca.crt"
SERVER_KEY, SERVER_CERT, SERVER_SANS = "apiserver.key", "apiserver.crt", "apiserver.sans"
TOKEN = "token"
USER = "simcluster-developer"


def _openssl(*args):
    proc = subprocess.run(["openssl"] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (args[0], proc.stderr.strip()))


def _write_private(path, text):
    """Writes a file readable by its owner only, replacing any old one atomically."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _make_ca(certdir):
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", os.path.join(certdir, CA_KEY),
             "-out", os.path.join(certdir, CA_CERT), "-days", "3650",
             "-subj", "/CN=simcluster-ca",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature")


def _make_server(certdir, sans):
    key = os.path.join(certdir, SERVER_KEY)
    csr = os.path.join(certdir, "apiserver.csr")
    ext = os.path.join(certdir, "apiserver.ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectAltName=%s\n" % ",".join(sans))
    try:
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=kube-apiserver")
        _openssl("x509", "-req", "-in", csr, "-CA", os.path.join(certdir, CA_CERT),
                 "-CAkey", os.path.join(certdir, CA_KEY), "-CAcreateserial",
                 "-out", os.path.join(certdir, SERVER_CERT), "-days", "825", "-sha256",
                 "-extfile", ext)
    finally:
        for path in (csr, ext):
            if os.path.exists(path):
                os.unlink(path)
    _write_private(os.path.join(certdir, SERVER_SANS), "\n".join(sans) + "\n")


def server_sans(listen_host, extra=()):
    sans = ["IP:127.0.0.1", "DNS:localhost", "DNS:kubernetes", "DNS:kubernetes.default",
            "DNS:kubernetes.default.svc", "DNS:kubernetes.default.svc.cluster.local"]
    for host in [listen_host] + list(extra):
        if not host or host in ("0.0.0.0", "::"):
            continue
        entry = ("IP:%s" if host.replace(".", "").isdigit() or ":" in host else "DNS:%s") % host
        if entry not in sans:
            sans.append(entry)
    return sans


def ensure_credentials(certdir, sans):
    """Creates (once) the CA, the server certificate for `sans` and the token; returns the token.

    Reruns reuse everything; the server certificate alone is remade when the
    wanted SANs change. A lock file keeps two starting servers from racing.
    """
    os.makedirs(certdir, mode=0o700, exist_ok=True)
    with open(os.path.join(certdir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        old_umask = os.umask(0o077)
        try:
            if not (os.path.exists(os.path.join(certdir, CA_KEY)) and
                    os.path.exists(os.path.join(certdir, CA_CERT))):
                _make_ca(certdir)
                for name in (SERVER_CERT, SERVER_SANS):
                    if os.path.exists(os.path.join(certdir, name)):
                        os.unlink(os.path.join(certdir, name))
            try:
                with open(os.path.join(certdir, SERVER_SANS)) as f:
                    have = f.read().split()
            except OSError:
                have = None
            if have != sans or not os.path.exists(os.path.join(certdir, SERVER_CERT)):
                _make_server(certdir, sans)
            token_path = os.path.join(certdir, TOKEN)
            if not os.path.exists(token_path):
                _write_private(token_path, secrets.token_urlsafe(32) + "\n")
            with open(token_path) as f:
                token = f.read().strip()
        finally:
            os.umask(old_umask)
    return token


def write_kubeconfig(path, server_url, certdir, token):
    """Writes a kubeconfig (context `simcluster`, namespace default) atomically, mode 0600."""
    with open(os.path.join(certdir, CA_CERT), "rb") as f:
        ca_data = base64.b64encode(f.read()).decode()
    text = ("apiVersion: v1\n"
            "kind: Config\n"
            "clusters:\n"
            "- name: simcluster\n"
            "  cluster:\n"
            "    server: %s\n"
            "    certificate-authority-data: %s\n"
            "users:\n"
            "- name: %s\n"
            "  user:\n"
            "    token: %s\n"
            "contexts:\n"
            "- name: simcluster\n"
            "  context:\n"
            "    cluster: simcluster\n"
            "    user: %s\n"
            "    namespace: default\n"
            "current-context: simcluster\n"
            "preferences: {}\n") % (server_url, ca_data, USER, token, USER)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    _write_private(path, text)
