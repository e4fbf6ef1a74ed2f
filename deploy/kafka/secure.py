"""Security material for a local broker with TLS and SASL listeners (kafka.sh start with KAFKA_SECURE=1).

Writes, under DIR/secure/ (once; a restart reuses it, since the SCRAM users live in the formatted store):
  ca.pem                    a CA made here, the only trust anchor of broker and clients
  broker.pem                the broker's PKCS#8 key and certificate (127.0.0.1, localhost), PEM keystore
  client.pem, client.key    a client certificate for the mTLS listener; the key is encrypted with
  client.key.password       this password (to exercise `ssl_key_password_file`)
  users.json                user → {mechanism, password} for PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512
  <user>.password           each password alone, as a secret file
  listeners.json            protocol → host:port of the SASL_SSL, SSL (client certificate required)
                            and SASL_PLAINTEXT listeners
  broker.properties         what kafka.sh appends to server.properties
  env.sh                    listeners, advertised listeners and protocol map for kafka.sh
  scram.args                one `--add-scram` argument per line for `kafka-storage format`

Kafka's own documentation: "Security" › "Encryption and Authentication using SSL" (PEM keystores,
ssl.client.auth), "Authentication using SASL" (PLAIN, SCRAM in KRaft via `kafka-storage format
--add-scram`).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import secrets
import socket
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DAY = dt.timedelta(days=1)
USERS = {"plain-user": "PLAIN", "scram256-user": "SCRAM-SHA-256", "scram512-user": "SCRAM-SHA-512"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "scanbridge local kafka"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


Authority = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]


def issue(subject: str, key: ec.EllipticCurvePrivateKey, ca: Authority | None,
          usage: x509.ObjectIdentifier | None) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    issuer_cert, issuer_key = ca if ca else (None, key)
    builder = (x509.CertificateBuilder().subject_name(name(subject))
               .issuer_name(issuer_cert.subject if issuer_cert else name(subject))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - DAY).not_valid_after(now + 365 * DAY))
    if usage is None:  # the CA
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if usage == ExtendedKeyUsageOID.SERVER_AUTH:
            names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: ec.EllipticCurvePrivateKey, password: str | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = serialization.NoEncryption()
    if password:
        encryption = serialization.BestAvailableEncryption(password.encode())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def write(path: Path, data: bytes | str) -> None:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    path.chmod(0o600)


def main(run_dir: Path) -> None:
    out = run_dir / "secure"
    if (out / "env.sh").is_file():
        return
    out.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = issue("scanbridge local kafka CA", ca_key, None, None)
    broker_key = ec.generate_private_key(ec.SECP256R1())
    broker = issue("127.0.0.1", broker_key, (ca, ca_key), ExtendedKeyUsageOID.SERVER_AUTH)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = issue("scanbridge-client", client_key, (ca, ca_key), ExtendedKeyUsageOID.CLIENT_AUTH)
    key_password = secrets.token_urlsafe(16)
    write(out / "ca.pem", pem(ca))
    write(out / "broker.pem", key_pem(broker_key) + pem(broker) + pem(ca))
    write(out / "client.pem", pem(client))
    write(out / "client.key", key_pem(client_key, key_password))
    write(out / "client.key.password", key_password + "\n")

    users = {user: {"mechanism": mech, "password": secrets.token_urlsafe(18)} for user, mech in USERS.items()}
    write(out / "users.json", json.dumps(users, indent=2))
    for user, entry in users.items():
        write(out / f"{user}.password", entry["password"] + "\n")
    plain = " ".join(f'user_{u}="{e["password"]}"' for u, e in users.items() if e["mechanism"] == "PLAIN")
    write(out / "scram.args", "".join(f"{e['mechanism']}=[name={u},password={e['password']}]\n"
                                      for u, e in users.items() if e["mechanism"].startswith("SCRAM")))

    ports = {"SASL_SSL": free_port(), "SSL": free_port(), "SASL_PLAINTEXT": free_port()}
    write(out / "listeners.json", json.dumps({p: f"127.0.0.1:{n}" for p, n in ports.items()}, indent=2))
    write(out / "env.sh", "".join([
        'extra_listeners="' + ",".join(f"{p}://127.0.0.1:{n}" for p, n in ports.items()) + '"\n',
        'extra_map="' + ",".join(f"{p}:{p}" for p in ports) + '"\n',
    ]))
    props = [
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={out / 'broker.pem'}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={out / 'ca.pem'}",
        "listener.name.ssl.ssl.client.auth=required",
    ]
    for listener in ("sasl_ssl", "sasl_plaintext"):
        props += [
            f"listener.name.{listener}.plain.sasl.jaas.config="
            f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain};",
            f"listener.name.{listener}.scram-sha-256.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            f"listener.name.{listener}.scram-sha-512.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        ]
    write(out / "broker.properties", "\n".join(props) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
