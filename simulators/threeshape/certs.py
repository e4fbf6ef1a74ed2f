"""Test certificates for the Dental Desktop simulator: a CA and a server certificate it issued.

3shape-dental-desktop-pms-integration.txt, "Security" › "Certificate validation": clients check the
SHA-1 thumbprint of the certificate authority, the last certificate of the chain, so the server sends
the full chain (server certificate, then the CA) from its certfile.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Authority:
    """A certificate authority: its certificate and the key it signs with."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def thumbprint(self) -> str:
        """SHA-1 of the DER certificate in lower-case hex, as the doc prints it."""
        return self.cert.fingerprint(hashes.SHA1()).hex()  # noqa: S303 - the doc pins by SHA-1

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class TlsFiles:
    """What uvicorn needs (`ssl_certfile`, `ssl_keyfile`) and what a client pins (`ca_thumbprint`)."""

    certfile: Path
    keyfile: Path
    ca_thumbprint: str
    ca_pem: bytes


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "scanbridge test"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def make_authority(common_name: str = "Dental Desktop test CA") -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _DAY)
        .not_valid_after(now + 30 * _DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(cert, key)


def issue_server_cert(
    issuer: Authority, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A server certificate for `hosts` (IP addresses and DNS names) signed by `issuer`."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _DAY)
        .not_valid_after(now + 30 * _DAY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
        .sign(issuer.key, hashes.SHA256())
    )
    return cert, key


def write_tls_files(
    folder: Path,
    *,
    authority: Authority | None = None,
    signer: Authority | None = None,
    hosts: tuple[str, ...] = ("127.0.0.1", "localhost"),
) -> TlsFiles:
    """Write `server.pem` (server certificate + CA, the full chain) and `server.key` into `folder`.

    `authority` is the CA sent last in the chain (a new one when omitted); `signer` is who really
    signs the server certificate (default: the same CA). A `signer` other than `authority` builds an
    impostor's chain: a foreign server certificate followed by the genuine CA certificate, whose
    thumbprint matches while the chain does not verify.
    """
    authority = authority or make_authority()
    cert, key = issue_server_cert(signer or authority, hosts)
    folder.mkdir(parents=True, exist_ok=True)
    certfile, keyfile = folder / "server.pem", folder / "server.key"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + authority.pem)
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return TlsFiles(certfile, keyfile, authority.thumbprint, authority.pem)
