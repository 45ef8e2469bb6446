"""``nbskit assets ict``: download the MIT-licensed ICT-FaceKit and repack it for nbskit.

The upstream repository (GitHub ``ICT-VGL/ICT-FaceKit``) stores the model as OBJ files in
``FaceXModel/``: ``generic_neutral_mesh.obj`` (quads, UVs, one material per part), one OBJ per
expression (``jawOpen.obj``, ...) and per identity mode (``identity000.obj``, ...), and
``vertex_indices.json`` (landmark and vertex subsets). The repack stores the same mesh as compact
arrays in ``ict_light_v1.npz`` (centimetres; deltas as float16), which ``ICTFaceModel`` reads.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from nbskit.errors import UserError
from nbskit.face.ict import ICT_FILENAME, user_cache_dir

UPSTREAM_ARCHIVE = "https://github.com/ICT-VGL/ICT-FaceKit/archive/refs/heads/master.zip"
MODEL_FOLDER = "FaceXModel/"
NUM_IDENTITIES = 20  # the repack keeps the leading identity principal components
NUM_LANDMARKS = 68
NUM_RIGID_LANDMARKS = 9
DOWNLOAD_TIMEOUT_S = 60


class AssetError(UserError, RuntimeError):
    """An asset could not be downloaded or repacked; the message says what to do instead."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("asset", choices=["ict"], help="which asset to fetch")
    parser.add_argument("--out", type=Path, default=None, help=f"output npz (default: cache/{ICT_FILENAME})")
    parser.add_argument("--url", default=UPSTREAM_ARCHIVE, help="upstream zip archive")


def run(args: argparse.Namespace) -> int:
    out = args.out or user_cache_dir() / ICT_FILENAME
    print(f"wrote {fetch_ict(out, url=args.url)}")
    return 0


def download(url: str) -> bytes:
    """The bytes at ``url``; raises AssetError that explains the alternatives when offline."""
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            return response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise AssetError(
            f"could not download {url} ({reason}). This machine may be offline. Alternatives: "
            f"run `nbskit assets ict` on a networked machine and copy {ICT_FILENAME} to "
            f"{user_cache_dir() / ICT_FILENAME}, or set $NBSKIT_ICT to an existing copy."
        ) from err


def fetch_ict(out: Path, url: str = UPSTREAM_ARCHIVE) -> Path:
    """Download the upstream archive, repack it and write ``out`` atomically. Returns ``out``."""
    archive = zipfile.ZipFile(io.BytesIO(download(url)))
    arrays = repack(archive)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=out.parent, suffix=".npz", delete=False) as tmp:
        np.savez_compressed(tmp, **arrays)
    os.replace(tmp.name, out)
    return out


def parse_obj(text: str) -> dict[str, np.ndarray | list[str]]:
    """Positions, UVs, triangles (quads split in two) with UV indices and material per triangle."""
    positions, uvs, faces, faces_uv, materials, material_names = [], [], [], [], [], []
    current = -1
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "v":
            positions.append([float(p) for p in parts[1:4]])
        elif parts[0] == "vt":
            uvs.append([float(p) for p in parts[1:3]])
        elif parts[0] == "usemtl":
            if parts[1] not in material_names:
                material_names.append(parts[1])
            current = material_names.index(parts[1])
        elif parts[0] == "f":
            corners = [c.split("/") for c in parts[1:]]
            vertex = [int(c[0]) - 1 for c in corners]
            texture = [int(c[1]) - 1 if len(c) > 1 and c[1] else -1 for c in corners]
            for a, b in zip(range(1, len(corners) - 1), range(2, len(corners))):  # fan split
                faces.append([vertex[0], vertex[a], vertex[b]])
                faces_uv.append([texture[0], texture[a], texture[b]])
                materials.append(current)
    return {
        "positions": np.asarray(positions, np.float32),
        "uv": np.asarray(uvs, np.float32),
        "faces": np.asarray(faces, np.int32),
        "faces_uv": np.asarray(faces_uv, np.int32),
        "face_material": np.asarray(materials, np.int16),
        "material_names": material_names,
    }


def _index_list(indices: dict, length: int, must_contain: str) -> np.ndarray:
    """The entry of vertex_indices.json with ``length`` integers whose key mentions a word."""
    for key, value in indices.items():
        if must_contain in key.lower() and isinstance(value, list) and len(value) == length:
            return np.asarray(value, np.int32)
    raise AssetError(f"vertex_indices.json has no {length}-entry list whose key contains {must_contain!r}")


def repack(archive: zipfile.ZipFile) -> dict[str, np.ndarray]:
    """Arrays of ``ict_light_v1.npz`` from the upstream repository archive."""
    members = {Path(n).name: n for n in archive.namelist() if MODEL_FOLDER in n}
    if "generic_neutral_mesh.obj" not in members:
        raise AssetError(f"the archive has no {MODEL_FOLDER}generic_neutral_mesh.obj; has upstream moved it?")

    def read(name: str) -> str:
        return archive.read(members[name]).decode("utf-8")

    neutral = parse_obj(read("generic_neutral_mesh.obj"))
    indices = json.loads(read("vertex_indices.json"))
    expression_names = list(indices["expressions"])

    def deltas(names: list[str]) -> np.ndarray:
        shapes = [parse_obj(read(f"{n}.obj"))["positions"] for n in tqdm(names, desc="repacking", unit="obj")]
        return (np.stack(shapes) - neutral["positions"]).astype(np.float16)

    landmarks = _index_list(indices, NUM_LANDMARKS, "landmark")
    rigid_lists = sorted(
        (np.asarray(v, np.int32) for k, v in indices.items() if "rigid" in k.lower() and isinstance(v, list)),
        key=len,
    )
    return {
        "neutral": neutral["positions"],
        "faces": neutral["faces"],
        "uv": neutral["uv"],
        "faces_uv": neutral["faces_uv"],
        "face_material": neutral["face_material"],
        "material_names": np.asarray(neutral["material_names"]),
        "expression_names": np.asarray(expression_names),
        "expression_deltas": deltas(expression_names),
        "identity_deltas": deltas([f"identity{i:03d}" for i in range(NUM_IDENTITIES)]),
        "landmarks68": landmarks,
        "rigid_landmark_idx": _index_list(indices, NUM_RIGID_LANDMARKS, "rigid"),
        "fitting_vertices": np.asarray(indices.get("idx_to_fitting_verts", []), np.int32),
        "rigid_vertices": rigid_lists[-1] if rigid_lists else np.zeros(0, np.int32),
    }
