"""Event state serialisation with orjson, compatible with the library's transcodings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder


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
        kind = type(value)
        if kind is dict:
            return self._revive_dict(value)
        if kind is list:
            return [self._revive(v) if type(v) in _CONTAINERS else v for v in value]
        return value

    def _revive_dict(self, value: dict[str, Any]) -> Any:
        for key, item in value.items():  # values replaced in place: the size never changes
            kind = type(item)
            if kind is dict:
                value[key] = self._revive_dict(item)
            elif kind is list and item:
                value[key] = self._revive(item)
        if "_type_" not in value or "_data_" not in value:
            return value
        data = value["_data_"]
        if value["_type_"] == _DATETIME and len(value) == 2 and type(data) is str:
            # Every event's timestamp: what DatetimeAsISO.decode does, two calls sooner.
            return datetime.fromisoformat(data)
        return self._decode_obj(value)


_CONTAINERS = frozenset({dict, list})
_DATETIME = DatetimeAsISO.name
