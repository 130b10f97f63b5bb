"""Write ``codec_golden.json``: cache values as the reference package stores them.

Run it with the interpreter that has the reference django-valkey 0.4.1
installed (not this project's)::

    /opt/ref/bin/python tests/golden/make_golden.py

For every profile of settings (one child process each, since the reference
reads its settings at import time), serializer, compressor and value of
``values.py`` it records the bytes the reference sends to the server (its
``util.encode`` followed by valkey-py's own encoding of raw ints and floats)
and what the reference's ``util.decode`` gives back for them, pickled, when
that is not the value itself.  The
test suite only reads the JSON file.

The gzip entries carry the time they were written in bytes 4-8 (the gzip
header's MTIME): the reference calls ``gzip.compress`` without ``mtime``.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUTPUT = HERE / "codec_golden.json"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]


def run_profile(name: str) -> dict[str, Any]:
    """Encode and decode everything under one profile (in this process)."""
    # Appended, not prepended: ``django_valkey`` must come from site-packages
    # (the reference), only ``tests.golden.values`` from this tree.
    sys.path.append(str(ROOT))
    from django.conf import settings

    from tests.golden.values import COMPRESSORS, PICKLE_VERSION, PROFILES, SERIALIZERS, VALUES

    settings.configure(SECRET_KEY="golden", **PROFILES[name])

    from django.utils.module_loading import import_string
    from valkey.connection import Encoder

    import django_valkey
    from django_valkey.util import decode, encode

    if str(ROOT) in str(Path(django_valkey.__file__).resolve()):
        raise SystemExit("run this with the reference package's interpreter")
    wire = Encoder(encoding="utf-8", encoding_errors="strict", decode_responses=False)
    options = {"PICKLE_VERSION": PICKLE_VERSION}
    entries = []
    for ser_name, ser_path in SERIALIZERS.items():
        serializer = import_string(ser_path)(options=options)
        for comp_name, comp_path in COMPRESSORS.items():
            compressor = import_string(comp_path)(options=options)
            for value_id, value in VALUES.items():
                entry: dict[str, Any] = {
                    "serializer": ser_name,
                    "compressor": comp_name,
                    "value": value_id,
                }
                try:
                    stored = wire.encode(encode(value, serializer, compressor))
                except Exception as exc:
                    entry["encode_error"] = _error(exc)
                    entries.append(entry)
                    continue
                entry["stored"] = _b64(stored)
                try:
                    decoded = decode(stored, serializer, compressor)
                except Exception as exc:
                    entry["decode_error"] = _error(exc)
                else:
                    # Kept only where the reference does not give the value
                    # back (lossy serializers, negative ints): halves the file.
                    as_pickle = pickle.dumps(decoded, PICKLE_VERSION)
                    if as_pickle != pickle.dumps(value, PICKLE_VERSION):
                        entry["decoded"] = _b64(as_pickle)
                entries.append(entry)
    return {"settings": PROFILES[name], "entries": entries}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--profile":
        json.dump(run_profile(sys.argv[2]), sys.stdout)
        return
    sys.path.append(str(ROOT))
    from tests.golden.values import PICKLE_VERSION, PROFILES

    profiles = {}
    for name in PROFILES:
        child = subprocess.run(
            [sys.executable, __file__, "--profile", name],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        profiles[name] = json.loads(child.stdout)
    from importlib.metadata import version

    document = {
        "generator": "tests/golden/make_golden.py",
        "reference": f"django-valkey {version('django-valkey')}",
        "python": sys.version.split()[0],
        "pickle_version": PICKLE_VERSION,
        "libraries": {
            name: version(name)
            for name in ("valkey", "msgpack", "msgspec", "lz4", "brotli", "backports.zstd")
        },
        "profiles": profiles,
    }
    OUTPUT.write_text(json.dumps(document, indent=0, sort_keys=True) + "\n")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
