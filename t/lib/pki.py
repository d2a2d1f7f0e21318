"""A test PKI made with the openssl command line: a root CA, server certificates
(ECDSA P-256 or RSA) with the names asked for, expired ones, client certificates, and
what an OCSP responder needs. Everything lives in one directory the caller owns."""

import os
import subprocess

CA_CONF = """
[ ca ]
default_ca = ca_default
[ ca_default ]
dir = {dir}
database = {dir}/index.txt
new_certs_dir = {dir}/newcerts
serial = {dir}/serial
default_md = sha256
policy = policy_any
copy_extensions = none
unique_subject = no
[ policy_any ]
commonName = supplied
organizationName = optional
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
"""


def _run(*args, cwd=None):
    r = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args), r.stderr))
    return r.stdout


class Pki:
    """Pki(directory).server("www.example.com", ...) -> (cert_path, key_path)."""

    def __init__(self, directory, name="Test Root CA"):
        self.dir = directory
        os.makedirs(os.path.join(directory, "newcerts"), exist_ok=True)
        open(os.path.join(directory, "index.txt"), "w").close()
        with open(os.path.join(directory, "serial"), "w") as f:
            f.write("1000\n")
        self.conf = os.path.join(directory, "ca.cnf")
        with open(self.conf, "w") as f:
            f.write(CA_CONF.format(dir=directory))
        self.ca_key = self._key("ca", "ec")
        self.ca_cert = os.path.join(directory, "ca.crt")
        _run("req", "-x509", "-new", "-key", self.ca_key, "-out", self.ca_cert, "-days", "30",
             "-subj", "/CN=%s" % name, "-sha256",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        self.n = 0

    def path(self, name):
        return os.path.join(self.dir, name)

    def _key(self, stem, kind):
        key = self.path(stem + ".key")
        if kind == "rsa":
            _run("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key)
        else:
            _run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
        return key

    def _sign(self, stem, key, subject, ext, start=None, end=None, days=30):
        csr = self.path(stem + ".csr")
        cert = self.path(stem + ".crt")
        extfile = self.path(stem + ".ext")
        with open(extfile, "w") as f:
            f.write("[ v3 ]\n" + ext)
        _run("req", "-new", "-key", key, "-out", csr, "-subj", subject, "-config", self.conf)
        args = ["ca", "-batch", "-config", self.conf, "-in", csr, "-out", cert, "-notext",
                "-cert", self.ca_cert, "-keyfile", self.ca_key, "-extfile", extfile,
                "-extensions", "v3"]
        if start is not None:
            args += ["-startdate", start, "-enddate", end]
        else:
            args += ["-days", str(days)]
        _run(*args)
        return cert

    def server(self, *names, kind="ec", stem=None, expired=False, ocsp_url=None, ips=()):
        """A server certificate for the DNS names (and IP addresses) given."""
        self.n += 1
        stem = stem or "server%d-%s" % (self.n, kind)
        key = self._key(stem, kind)
        sans = ["DNS:%s" % n for n in names] + ["IP:%s" % a for a in ips]
        ext = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature%s\n" \
              "extendedKeyUsage=serverAuth\n" % (",keyEncipherment" if kind == "rsa" else "")
        if sans:
            ext += "subjectAltName=%s\n" % ",".join(sans)
        if ocsp_url:
            ext += "authorityInfoAccess=OCSP;URI:%s\n" % ocsp_url
        cn = names[0] if names else "no-names"
        if expired:
            cert = self._sign(stem, key, "/CN=%s" % cn, ext, "20200101000000Z", "20200201000000Z")
        else:
            cert = self._sign(stem, key, "/CN=%s" % cn, ext)
        return cert, key

    def client(self, cn, stem=None):
        """A client certificate (for mTLS) with subject CN=cn."""
        self.n += 1
        stem = stem or "client%d" % self.n
        key = self._key(stem, "ec")
        ext = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n" \
              "extendedKeyUsage=clientAuth\n"
        return self._sign(stem, key, "/CN=%s/O=Test Clients" % cn, ext), key

    def ocsp_signer(self):
        """A certificate the CA delegates OCSP signing to."""
        self.n += 1
        key = self._key("ocsp", "ec")
        ext = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n" \
              "extendedKeyUsage=OCSPSigning\n"
        return self._sign("ocsp", key, "/CN=Test OCSP Responder", ext), key

    def chain(self, cert, name=None):
        """cert followed by the CA certificate, in one file."""
        out = self.path(name or (os.path.basename(cert) + ".chain"))
        with open(out, "w") as f:
            f.write(open(cert).read())
            f.write(open(self.ca_cert).read())
        return out
