"""Where the read models live by default: in the event store's database, so a command's
read models commit in its transaction; an embedded deployment made before that keeps its
sibling file (moving it would leave blind indexes behind later erasures)."""

from __future__ import annotations

from pathlib import Path

from service.settings import Settings
from service.stores import read_models_url, shares_event_store


def settings(data_dir: Path, **env: str) -> Settings:
    return Settings.from_env({"CRM_DATA_DIR": str(data_dir), **env})


def test_a_new_embedded_deployment_keeps_its_read_models_in_the_event_store_file(
    tmp_path: Path,
) -> None:
    chosen = settings(tmp_path)

    assert read_models_url(chosen) == chosen.database_url
    assert shares_event_store(chosen)


def test_an_embedded_deployment_with_a_views_file_keeps_using_it(tmp_path: Path) -> None:
    (tmp_path / "crm-views.db").touch()
    chosen = settings(tmp_path)

    assert read_models_url(chosen) == f"sqlite:///{tmp_path / 'crm-views.db'}"
    assert not shares_event_store(chosen)


def test_postgres_read_models_default_to_the_event_store_database(tmp_path: Path) -> None:
    url = "postgresql://crm@db:5432/crm"
    chosen = settings(tmp_path, CRM_DATABASE_URL=url)

    assert read_models_url(chosen) == url and shares_event_store(chosen)


def test_read_models_elsewhere_are_not_written_with_the_events(tmp_path: Path) -> None:
    chosen = settings(
        tmp_path,
        CRM_DATABASE_URL="postgresql://crm@db:5432/crm",
        CRM_READ_MODELS_URL="postgresql://crm@replica:5432/views",
    )

    assert not shares_event_store(chosen)
