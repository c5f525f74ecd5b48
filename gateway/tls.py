"""HTTPS on the post's LAN: a local certificate authority and the Pi's certificate.

Passwords and tips must not cross the post's Wi-Fi in clear, and no public CA will certify
``tinbao-pi.local`` or ``192.168.1.20``. So the post has its own small CA, made once
(``python app.py tls init``, called by the installer): officers' phones and PCs trust its
certificate once (the setup page offers it with its SHA-256 fingerprint), and the Pi's
certificate, signed by it, names the Pi's hostname, ``<hostname>.local``, ``localhost`` and
its addresses.

- Keys are ECDSA P-256 (quick on a Pi, small); every file is 0600.
- The CA is **name-constrained** to those local names and the private and loopback address
  ranges: a stolen Pi's CA key cannot make a certificate a phone would accept for a bank or
  a mail server.
- The CA lives 10 years; the Pi's certificate ``CERT_DAYS``; ``tls init`` again (the
  installer does it on every upgrade) issues a new one from the same CA, with the Pi's
  current names and addresses, so phones need not trust anything new. The doctor warns
  ``WARN_DAYS`` before it ends.

Files, in one folder (``/etc/tinbao/tls`` on a Pi, ``tls`` beside the database otherwise):
``ca.crt``, ``ca.key``, ``server.crt`` (the Pi's certificate then the CA's), ``server.key``.
``web.tls_cert`` / ``web.tls_key`` name the server's two; the CA's certificate is found
beside them. Serving them is ``gateway.web.serving``.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import re
import socket
import ssl
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.config import Config
from gateway.errors import ConfigError, TinBaoError

CA_DAYS = 3650
CERT_DAYS = 730
WARN_DAYS = 30
CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY = "ca.crt", "ca.key", "server.crt", "server.key"
LOCAL_DOMAINS = ("local", "localhost")
PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16", "100.64.0.0/10",
    "::1/128", "fc00::/7", "fe80::/10",
))
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class TlsError(TinBaoError):
    """A certificate cannot be made or used; the message says why in one line."""


# -- reading (light: the page and the doctor use these without loading cryptography) -----------


def ca_cert_path(config: Config) -> Path | None:
    """The CA's certificate beside ``web.tls_cert``, or None when HTTPS is not configured."""
    if not config.web.tls_cert:
        return None
    return Path(config.web.tls_cert).expanduser().parent / CA_CERT


def first_pem(path: Path) -> bytes:
    """The DER bytes of the first certificate in a PEM file."""
    text = path.read_text(encoding="ascii", errors="replace")
    match = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)
    if not match:
        raise TlsError(f"{path} holds no certificate")
    return ssl.PEM_cert_to_DER_cert(match.group(0))


def fingerprint(path: Path) -> str:
    """SHA-256 of a certificate, as phones and Windows show it (``AB:CD:…``)."""
    digest = hashlib.sha256(first_pem(path)).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


# -- making --------------------------------------------------------------------------------------


def _write_private(path: Path, data: bytes) -> None:
    """Write ``path`` 0600 beside then rename (a cut never leaves half a key)."""
    part = path.with_name(f".{path.name}.part")
    with contextlib.suppress(FileNotFoundError):
        part.unlink()
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(part, path)


def clean_hostname(name: str) -> str | None:
    """A hostname usable in a certificate (lower case, DNS labels), or None."""
    name = name.strip().lower().rstrip(".")
    if name.endswith(".local"):
        name = name[: -len(".local")]
    if not name or not all(_LABEL.match(label) for label in name.split(".")):
        return None
    return name


def gather_addresses(hostname: str, given: list[str]) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The Pi's addresses for its certificate: those given (or resolved), loopback, private only."""
    found: list[Any] = []
    words = [word for item in given for word in item.replace(",", " ").split()]
    if not words:
        with contextlib.suppress(OSError):
            words = [info[4][0] for info in socket.getaddrinfo(hostname, None)]
    for word in [*words, "127.0.0.1", "::1"]:
        try:
            address = ipaddress.ip_address(word.split("%")[0])
        except ValueError:
            print(f"tinbao: {word!r} is not an address; left out of the certificate", file=sys.stderr)
            continue
        if not any(address in network for network in PRIVATE_NETWORKS):
            print(f"tinbao: {address} is not a private address; left out of the certificate", file=sys.stderr)
            continue
        if address not in found:
            found.append(address)
    return found


def _permitted(ca_cert: Any, names: list[str], addresses: list[Any]) -> str | None:
    """The first name or address the CA may not certify, or None."""
    from cryptography import x509

    try:
        constraints = ca_cert.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return None
    domains = [c.value for c in constraints.permitted_subtrees or [] if isinstance(c, x509.DNSName)]
    networks = [c.value for c in constraints.permitted_subtrees or [] if isinstance(c, x509.IPAddress)]
    for name in names:
        if not any(name == d or name.endswith("." + d) for d in domains):
            return name
    for address in addresses:
        if not any(address in n for n in networks):
            return str(address)
    return None


def make_ca(folder: Path, hostname: str, label: str) -> None:
    """A new CA (key and certificate) in ``folder``, constrained to local names and addresses."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "TinBao"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"TinBao CA {label}"[:64]),
    ])
    now = datetime.now(UTC)
    permitted = [x509.DNSName(d) for d in (hostname, *LOCAL_DOMAINS)]
    permitted += [x509.IPAddress(n) for n in PRIVATE_NETWORKS]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(folder / CA_KEY, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
    _write_private(folder / CA_CERT, cert.public_bytes(serialization.Encoding.PEM))


def issue(folder: Path, hostname: str, addresses: list[Any]) -> Any:
    """The Pi's certificate from the CA in ``folder``: its names and addresses, ``CERT_DAYS`` long."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    try:
        ca_cert = x509.load_pem_x509_certificate((folder / CA_CERT).read_bytes())
        ca_key = serialization.load_pem_private_key((folder / CA_KEY).read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise TlsError(f"the CA in {folder} cannot be read ({exc}): tls init --new-ca makes a new one") from None
    names = [hostname, f"{hostname}.local", "localhost"]
    outside = _permitted(ca_cert, names, addresses)
    if outside is not None:
        raise TlsError(f"the post's CA may not certify {outside} (the Pi was renamed?): "
                       "python app.py tls init --new-ca (then every phone trusts the new CA)")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
        .issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=CERT_DAYS))
        .add_extension(x509.SubjectAlternativeName([*(x509.DNSName(n) for n in names),
                                                     *(x509.IPAddress(a) for a in addresses)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
                       critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    _write_private(folder / SERVER_KEY, key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    chain = cert.public_bytes(serialization.Encoding.PEM) + (folder / CA_CERT).read_bytes()
    _write_private(folder / SERVER_CERT, chain)
    return cert


def default_folder(config: Config) -> Path:
    if config.web.tls_cert:
        return Path(config.web.tls_cert).expanduser().parent
    return config.storage_path.parent / "tls"


# -- the doctor and the page -------------------------------------------------------------------


@dataclass(frozen=True)
class CertInfo:
    """What the doctor prints about the served certificate."""

    fingerprint: str  # the CA's, as officers compare it on their phones
    names: list[str]
    not_after: datetime


def describe(config: Config) -> CertInfo:
    """The served certificate's names and end, and the CA's fingerprint (``TlsError`` if unusable)."""
    from cryptography import x509

    cert_path = Path(config.web.tls_cert).expanduser()
    try:
        cert = x509.load_der_x509_certificate(first_pem(cert_path))
    except (OSError, ValueError) as exc:
        raise TlsError(f"{cert_path} (web.tls_cert) cannot be read: {exc}") from None
    try:
        names = [str(n.value) for n in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value]
    except x509.ExtensionNotFound:
        names = []
    ca = ca_cert_path(config)
    return CertInfo(fingerprint(ca) if ca and ca.is_file() else fingerprint(cert_path), names,
                    cert.not_valid_after_utc)


def health(config: Config, now: datetime | None = None) -> tuple[bool, str, str]:
    """(ok, found, fix) for ``python app.py doctor``: the fingerprint, and a warning before the end."""
    now = now or datetime.now(UTC)
    if not config.web.tls_cert:
        if config.web.host in ("127.0.0.1", "localhost", "::1"):
            return True, "plain http on this Pi only (web.host is loopback)", ""
        return False, "the page goes over plain http on the post's LAN: passwords and tips in clear", (
            "sudo firmware_config/install.sh makes the certificate, or: sudo tinbao tls init, then set "
            "web.tls_cert and web.tls_key")
    try:
        server_context(config)
        info = describe(config)
    except (TlsError, ConfigError) as exc:
        return False, str(exc), "sudo tinbao tls init (makes the certificate again)"
    for path in (Path(config.web.tls_key).expanduser(), Path(config.web.tls_cert).expanduser()):
        with contextlib.suppress(OSError):
            if path.stat().st_mode & 0o077:
                return False, f"{path} is readable by other users", f"chmod 600 {path}"
    left = info.not_after - now
    until = info.not_after.strftime("%Y-%m-%d")
    found = f"CA SHA-256 {info.fingerprint}; valid until {until}; {', '.join(info.names[:4])}"
    if left < timedelta(days=WARN_DAYS):
        state = "ended" if left.total_seconds() <= 0 else f"ends in {left.days} days"
        return False, f"the certificate {state} ({until})", "sudo tinbao tls init (same CA: phones keep trusting it)"
    return True, found, ""


# -- serving ---------------------------------------------------------------------------------


def server_context(config: Config) -> ssl.SSLContext:
    """The TLS context the page is served with (TLS 1.2 at least); ``ConfigError`` naming the key."""
    cert, key = config.web.tls_cert, config.web.tls_key
    if bool(cert) != bool(key):
        missing = "web.tls_key" if cert else "web.tls_cert"
        raise ConfigError(f"config key {missing}: must be set with {'web.tls_cert' if cert else 'web.tls_key'}")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(Path(cert).expanduser()), str(Path(key).expanduser()))
    except FileNotFoundError as exc:
        raise ConfigError(f"config key web.tls_cert/web.tls_key: {exc.filename} does not exist "
                          "(python app.py tls init makes them)") from None
    except PermissionError as exc:
        raise ConfigError(f"config key web.tls_key: {exc.filename} cannot be read by this user") from None
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"config key web.tls_cert/web.tls_key: not a certificate and its key ({exc})") from None
    return context


def client_context(config: Config) -> ssl.SSLContext:
    """A context that trusts the post's CA (the doctor's health question over https)."""
    ca = ca_cert_path(config)
    context = ssl.create_default_context(cafile=str(ca) if ca and ca.is_file() else None)
    if not (ca and ca.is_file()):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # no CA to check against: "does it answer" is the question
    return context


# -- python app.py tls ... ---------------------------------------------------------------------


def tls_command(config: Config, args: Any) -> int:
    """``python app.py tls init [--dir D] [--hostname H] [--address A ...] [--new-ca]`` and ``tls show``."""
    action = getattr(args, "tls_command", None) or "show"
    if action == "show":
        if not config.web.tls_cert:
            print("HTTPS is not configured (web.tls_cert is empty): python app.py tls init")
            return 1
        ok, found, fix = health(config)
        print(found if ok else f"{found}  → {fix}")
        return 0 if ok else 1
    folder = Path(args.dir).expanduser() if getattr(args, "dir", None) else default_folder(config)
    hostname = clean_hostname(getattr(args, "hostname", None) or socket.gethostname())
    if hostname is None:
        raise TlsError("the Pi's hostname cannot go in a certificate (letters, digits and - only): "
                       "give one with --hostname")
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(folder, 0o700)
    if getattr(args, "new_ca", False) or not (folder / CA_CERT).is_file() or not (folder / CA_KEY).is_file():
        make_ca(folder, hostname, config.gateway.name or hostname)
        print(f"made the post's certificate authority {folder / CA_CERT}")
    else:
        print(f"keeping the post's certificate authority {folder / CA_CERT}")
    addresses = gather_addresses(hostname, getattr(args, "address", None) or [])
    cert = issue(folder, hostname, addresses)
    names = ", ".join([hostname, f"{hostname}.local", "localhost", *(str(a) for a in addresses)])
    print(f"certificate for {names}, valid until {cert.not_valid_after_utc:%Y-%m-%d}: {folder / SERVER_CERT}")
    print(f"CA fingerprint (SHA-256): {fingerprint(folder / CA_CERT)}")
    if not config.web.tls_cert:
        print(f'set in the config: [web] tls_cert = "{folder / SERVER_CERT}", tls_key = "{folder / SERVER_KEY}"')
    return 0
