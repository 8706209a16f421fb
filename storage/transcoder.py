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
        """Tagged objects back into their types, innermost first, as the library's object
        hook does. Only containers are walked (orjson makes exact dicts and lists): scalars,
        most of an event, stay as parsed. Every replay decodes every event through here."""
        if type(value) is dict:
            for key, item in value.items():  # values replaced in place: the size never changes
                if type(item) in _CONTAINERS:
                    value[key] = self._revive(item)
            if "_type_" in value and "_data_" in value:
                return self._decode_obj(value)
            return value
        if type(value) is list:
            return [self._revive(v) if type(v) in _CONTAINERS else v for v in value]
        return value


_CONTAINERS = frozenset({dict, list})
