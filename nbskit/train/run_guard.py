"""What a run folder may be, before training writes into it, and the subject it was trained on.

``nbskit train --out RUN`` only writes into a new or empty folder, or into a folder that already
holds a run: continued with ``--resume`` (same subject, same config: a mismatch is named field by
field), or replaced with ``--overwrite``. A folder with other files in it is never written to.

Training also keeps a copy of the subject's metadata in ``RUN/subject/`` (its transforms.json
and background image, no frames), so an orbit, a mesh or the basis gallery can still be rendered
after the subject folder moved; evaluation and re-rendering frames need the real folder
(``--subject PATH``).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from nbskit.data.folders import describe_entries
from nbskit.data.subject import TRANSFORMS_FILE, Subject
from nbskit.train.checkpoint import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    LOG_FILE,
    TEST_METRICS_FILE,
    RunFolderError,
    publish,
    read_json,
    write_json,
)
from nbskit.train.presets import TrainConfig

SUBJECT_COPY_DIR = "subject"
RUN_FILES = (CONFIG_FILE, LOG_FILE, str(CHECKPOINT_FILE), TEST_METRICS_FILE)


def subject_fingerprint(root: str | Path) -> str:
    """sha256 of a subject's transforms.json: equal for the same subject wherever it lies."""
    return hashlib.sha256((Path(root) / TRANSFORMS_FILE).read_bytes()).hexdigest()


def existing_run(out: Path) -> dict | None:
    """The stored config.json of the run in ``out``; None if ``out`` is new or empty.

    Raises RunFolderError if ``out`` is a file or a folder holding anything but a run.
    """
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"--out {out} is a file; choose a folder")
    if not out.is_dir() or not any(out.iterdir()):
        return None
    if not (out / CONFIG_FILE).is_file():
        raise RunFolderError(f"--out {out} holds files that are not an nbskit run ({describe_entries(out)}); "
                             "choose a new or empty folder (nothing was written)")
    stored = read_json(out / CONFIG_FILE)
    if not isinstance(stored, dict) or not isinstance(stored.get("train"), dict) or "subject" not in stored:
        raise RunFolderError(f"{out / CONFIG_FILE}: not the config of an nbskit run")
    return stored


def stored_config(stored: dict, run_dir: Path) -> TrainConfig:
    """The TrainConfig in a run's config.json (RunFolderError if it is not a valid one)."""
    try:
        config = TrainConfig.from_dict(stored["train"])
        config.validate()
    except (TypeError, ValueError) as err:
        raise RunFolderError(f"{run_dir / CONFIG_FILE}: invalid training config: {err}") from None
    return config


def check_same_subject(stored: dict, subject: Subject, run_dir: Path) -> None:
    """Resume only on the subject the run started with (by content when the run recorded it)."""
    expected = stored.get("subject_sha256")
    same = (subject_fingerprint(subject.root) == expected if expected is not None
            else Path(subject.root).resolve() == Path(stored["subject"]).resolve())
    if not same:
        raise RunFolderError(f"--resume: {run_dir} was trained on the subject {stored['subject']}, and "
                             f"{subject.root} is a different subject (or its transforms.json changed); "
                             "resume with the same subject, or start a new run folder")


def check_unchanged(config: TrainConfig, preset: str | None, overrides: dict, run_dir: Path) -> None:
    """Options asked for when continuing a run must equal its stored ones (they cannot change mid-run)."""
    asked = dict(overrides)
    if preset is not None:
        asked["preset"] = preset
    changed = [(key, getattr(config, key), value) for key, value in asked.items() if getattr(config, key) != value]
    if changed:
        listed = "; ".join(f"{key} is {old!r} in the run, the command asks for {new!r}" for key, old, new in changed)
        raise RunFolderError(f"{run_dir} holds a run made with other options ({listed}); options cannot change "
                             "when a run continues: drop them to continue it as it was, or use a new folder")


def describe_run(stored: dict, run_dir: Path) -> str:
    """'a run of SUBJECT (step s of N)' for messages."""
    try:
        step = read_json(run_dir / LOG_FILE).get("step", 0)
    except RunFolderError:
        step = 0
    total = stored["train"].get("total_steps", "?")
    state = "finished" if step == total else f"at step {step} of {total}"
    return f"a run of {stored['subject']} ({state})"


def clear_run(run_dir: Path) -> None:
    """Remove the files a run writes (for --overwrite); anything else in the folder stays."""
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)
    shutil.rmtree(run_dir / SUBJECT_COPY_DIR, ignore_errors=True)


def write_subject_copy(run_dir: Path, subject: Subject) -> None:
    """``run_dir/subject/``: the subject's transforms.json (background pointing at a copy), no frames."""
    folder = run_dir / SUBJECT_COPY_DIR
    data = subject.to_transforms()
    if subject.background_path is not None:
        source = subject.path(subject.background_path)
        data["background_path"] = "background" + source.suffix
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".{data['background_path']}.tmp"
        shutil.copyfile(source, temporary)
        publish(temporary, folder / data["background_path"])
    write_json(folder / TRANSFORMS_FILE, data)


def open_subject(run_dir: Path, stored: dict, subject_path: str | Path | None = None) -> tuple[Subject, str | None]:
    """(the run's subject, None) or (the metadata copy kept in the run, a note saying so).

    ``subject_path`` points at the subject folder when it moved; it must hold the same subject.
    """
    expected = stored.get("subject_sha256")
    if subject_path is not None:
        subject = Subject.load(subject_path)
        if expected is not None and subject_fingerprint(subject.root) != expected:
            raise RunFolderError(f"--subject {subject_path} is not the subject {run_dir} was trained on "
                                 "(its transforms.json differs)")
        return subject, None
    original = Path(stored["subject"])
    if (original / TRANSFORMS_FILE).is_file() and (expected is None or subject_fingerprint(original) == expected):
        return Subject.load(original), None
    copy = run_dir / SUBJECT_COPY_DIR
    if not (copy / TRANSFORMS_FILE).is_file():
        raise RunFolderError(f"the subject folder {original} that {run_dir} was trained on is missing or changed; "
                             "pass --subject PATH to the folder where it is now")
    note = (f"the subject folder {original} is missing or changed: using the copy of its metadata kept in "
            f"{copy} (enough for orbits, meshes and the gallery; --subject PATH to use its frames)")
    return Subject.load(copy, check_files=False), note


def subject_record(subject: Subject) -> dict:
    """The config.json keys that identify the subject of a run."""
    return {"subject": str(Path(subject.root).resolve()), "subject_sha256": subject_fingerprint(subject.root)}
