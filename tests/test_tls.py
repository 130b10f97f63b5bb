"""TLS (valkeys://, rediss://) against a server with certificates made here."""

from __future__ import annotations

import subprocess

import pytest
import valkey.exceptions

from tests.servers import ValkeyServer, free_port

pytestmark = pytest.mark.server


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
        # Python 3.13 verifies strictly (VERIFY_X509_STRICT): a CA needs key usage.
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        cwd=d,
    )
    (d / "san.cnf").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
        "authorityKeyIdentifier=keyid,issuer\n"
        "subjectKeyIdentifier=hash\n"
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        cwd=d,
    )
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.cnf",
        "-out",
        "server.crt",
        cwd=d,
    )
    port = free_port()
    server = ValkeyServer(
        name="valkey-tls",
        port=0,
        unixsocket=d / "tls.sock",
        workdir=d,
        args=(
            "--tls-port", str(port),
            "--tls-cert-file", str(d / "server.crt"),
            "--tls-key-file", str(d / "server.key"),
            "--tls-ca-cert-file", str(d / "ca.crt"),
            "--tls-auth-clients", "no",
        ),
    ).start()  # fmt: skip
    try:
        yield port, str(d / "ca.crt")
    finally:
        server.stop()


@pytest.mark.parametrize("scheme", ["valkeys", "rediss"])
def test_tls_round_trip(make_cache, tls_server, scheme, speedups):
    port, ca = tls_server
    cache = make_cache(
        location=f"{scheme}://127.0.0.1:{port}/0",
        OPTIONS={"CONNECTION_POOL_KWARGS": {"ssl_ca_certs": ca}},
    )
    cache.set("secret", {"tls": True})
    assert cache.get("secret") == {"tls": True}
    conn = cache.client.get_client().connection_pool.get_connection("GET")
    try:
        assert conn.__class__.__name__ == "SSLConnection"
    finally:
        cache.client.get_client().connection_pool.release(conn)


def test_tls_needs_a_trusted_certificate(make_cache, tls_server):
    port, _ = tls_server
    cache = make_cache(
        location=f"valkeys://127.0.0.1:{port}/0",
        OPTIONS={"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
    )
    with pytest.raises(valkey.exceptions.ConnectionError):
        cache.get("k")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "backend",
    ["django_valkey.cache.ValkeyCache", "django_valkey.async_cache.cache.AsyncValkeyCache"],
)
async def test_tls_async(make_cache, tls_server, backend):
    port, ca = tls_server
    cache = make_cache(
        backend,
        location=f"valkeys://127.0.0.1:{port}/0",
        OPTIONS={"CONNECTION_POOL_KWARGS": {"ssl_ca_certs": ca}},
    )
    try:
        await cache.aset("secret", [1, 2])
        assert await cache.aget("secret") == [1, 2]
    finally:
        await cache.aclose()
