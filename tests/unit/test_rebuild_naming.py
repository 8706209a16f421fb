"""Rebuilds write into renamed tables: the renaming touches whole table and index names only."""

from __future__ import annotations

from typing import Any

from projections.rebuild import RebuildingProjection
from projections.runner import ReadModelProjection
from projections.store import Write


class Notes(ReadModelProjection):
    name = "notes"
    schema = (
        "CREATE TABLE IF NOT EXISTS notes (id TEXT PRIMARY KEY, notes_count INTEGER)",
        "CREATE INDEX IF NOT EXISTS notes_by_count ON notes (notes_count)",
    )

    def writes_for(self, event: Any, position: int) -> list[Write]:
        return [("UPDATE notes SET notes_count = :n WHERE id = :id", {"n": position, "id": "x"})]


def test_projection_names_its_tables_and_indexes_from_its_schema() -> None:
    assert Notes().tables == ["notes"]
    assert Notes().indexes == ["notes_by_count"]


def test_rebuild_renames_tables_and_indexes_but_not_columns_sharing_a_prefix() -> None:
    rebuilding = RebuildingProjection(Notes())

    assert rebuilding.name == "notes__rebuild"
    assert rebuilding.schema == [
        "CREATE TABLE IF NOT EXISTS notes__rebuild (id TEXT PRIMARY KEY, notes_count INTEGER)",
        "CREATE INDEX IF NOT EXISTS notes_by_count__rebuild ON notes__rebuild (notes_count)",
    ]
    [(sql, params)] = rebuilding.writes_for(object(), 7)
    assert sql == "UPDATE notes__rebuild SET notes_count = :n WHERE id = :id"
    assert params == {"n": 7, "id": "x"}
