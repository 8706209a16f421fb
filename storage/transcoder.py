"""Event state serialisation with orjson, compatible with the library's transcodings."""

from __future__ import annotations

from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder


class OrjsonTranscoder(JSONTranscoder):
    """The library's JSON transcoder, encoding with orjson.

    Datetimes go through the registered transcodings (tagged, so they decode as datetimes);
    events carry ids as strings, because orjson writes UUIDs natively and untagged.
    """

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj, default=self._encode_obj, option=orjson.OPT_PASSTHROUGH_DATETIME)

    def decode(self, data: bytes) -> Any:
        return self._revive(orjson.loads(data))

    def _revive(self, value: Any) -> Any:
        if isinstance(value, dict):
            revived = {k: self._revive(v) for k, v in value.items()}
            if "_type_" in revived and "_data_" in revived:
                return self._decode_obj(revived)
            return revived
        if isinstance(value, list):
            return [self._revive(v) for v in value]
        return value
