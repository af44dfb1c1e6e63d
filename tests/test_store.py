"""The model store refuses tampered artifacts and follows the CURRENT pointer."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from creditscorer import ArtifactIntegrityError, ModelStore, UnknownModelError
from creditscorer.store import read_pointer, write_pointer


@pytest.fixture
def store_copy(model_dir: Path, tmp_path: Path) -> Path:
    root = tmp_path / "models"
    shutil.copytree(model_dir, root)
    return root


def current_folder(root: Path, name: str) -> Path:
    return root / name / read_pointer(root / name)


@pytest.mark.parametrize("artifact", ["model.onnx", "model.joblib"])
def test_tampered_artifact_is_refused_before_it_is_deserialised(store_copy, artifact):
    folder = current_folder(store_copy, "forest")
    with open(folder / artifact, "ab") as fh:
        fh.write(b"\0")

    def load() -> None:
        # The joblib file is only read (and checked) when the pipeline is asked for.
        ModelStore(store_copy).get("forest").sklearn_pipeline()

    with pytest.raises(ArtifactIntegrityError, match="differs from the card"):
        load()


def test_missing_artifact_is_refused(store_copy):
    (current_folder(store_copy, "logistic") / "model.onnx").unlink()
    with pytest.raises(ArtifactIntegrityError, match="missing"):
        ModelStore(store_copy).get("logistic")


def test_unknown_model_lists_the_known_ones(store_copy):
    with pytest.raises(UnknownModelError) as caught:
        ModelStore(store_copy).get("boosting")
    assert caught.value.known == ["forest", "forest_full", "logistic", "logistic_full"]


@pytest.mark.parametrize("name", ["../forest", "Forest ", "", "x" * 100])
def test_model_names_cannot_leave_the_store(store_copy, name):
    with pytest.raises(UnknownModelError):
        ModelStore(store_copy).get(name)


def test_store_follows_a_pointer_switch_without_restart(store_copy):
    model_store = ModelStore(store_copy)
    first = model_store.get("logistic")
    old_version = first.version
    new_version = "29990101T000000Z-abcdef"
    shutil.copytree(store_copy / "logistic" / old_version, store_copy / "logistic" / new_version)
    write_pointer(store_copy / "logistic", new_version)
    second = model_store.get("logistic")
    assert second is not first
    assert second.folder.name == new_version
    assert model_store.get("logistic") is second  # cached until the pointer changes again
    write_pointer(store_copy / "logistic", old_version)
    assert model_store.get("logistic").folder.name == old_version


def test_pointer_cannot_point_outside_the_model_folder(store_copy):
    with pytest.raises(ValueError, match="no version folder"):
        write_pointer(store_copy / "logistic", "../forest")


def test_a_model_folder_added_or_removed_is_seen_without_restart(store_copy):
    model_store = ModelStore(store_copy)
    assert "logistic_copy" not in model_store.names()
    model_store.get("logistic")
    shutil.copytree(store_copy / "logistic", store_copy / "logistic_copy")
    assert "logistic_copy" in model_store.names()
    copy = model_store.get("logistic_copy")
    assert copy.version == model_store.get("logistic").version
    shutil.rmtree(store_copy / "logistic_copy")
    assert "logistic_copy" not in model_store.names()
    with pytest.raises(UnknownModelError):
        model_store.get("logistic_copy")


def test_a_server_on_a_store_of_its_own_models_trains_nothing_into_it(store_copy, tmp_path):
    """Start-up trains the built-in models only into an empty store, never beside a team's."""
    from server import create_app

    for name in ("forest", "logistic_full", "forest_full"):
        shutil.rmtree(store_copy / name)
    app = create_app(
        model_dir=store_copy,
        train_if_missing=True,
        database_url=f"sqlite:///{tmp_path / 'log.sqlite3'}",
    )
    try:
        assert app.extensions["creditscorer.store"].names() == ["logistic"]
        assert sorted(p.name for p in store_copy.iterdir()) == ["logistic"]
    finally:
        app.extensions["creditscorer.db"].dispose()
