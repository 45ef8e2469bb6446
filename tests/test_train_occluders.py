"""Ignore masks keep an occluder out of the model: exact truth from a synthetic subject.

A skin-coloured card is pasted over the mouth in every third training frame. Trained with the
card's ignore mask, the model must render those frames closer to the unoccluded truth inside the
card than the same training (same seed, same steps) that is not told about the card.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow  # two short trainings: about 4 CPU-minutes

CARD_COLOUR = (0.93, 0.72, 0.62)  # a light skin tone, far from the synthetic head's lips and teeth
CARD_MARGIN = 2.0  # pixels added around the mouth box
OCCLUDED_EVERY = 3  # a third of the training frames
STEPS = ["total_steps=240", "stage2_start=80", "stage3_start=240", "perceptual_weight=0", "eval_interval=240",
         "checkpoint_interval=240", "seed=5"]


@pytest.fixture(scope="module")
def clean_subject(tmp_path_factory):
    from nbskit.data.synthetic import synthesize_subject

    return synthesize_subject(tmp_path_factory.mktemp("clean") / "tiny", "tiny", seed=2, progress=False)


def card_mask(box, height: int, width: int) -> np.ndarray:
    """bool [H, W]: the mouth box (x0, y0, x1, y1) grown by CARD_MARGIN."""
    x0, y0, x1, y1 = box
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    return (xs >= x0 - CARD_MARGIN) & (xs < x1 + CARD_MARGIN) & (ys >= y0 - CARD_MARGIN) & (ys < y1 + CARD_MARGIN)


def occluded_copy(clean, out, with_ignore: bool) -> dict[int, np.ndarray]:
    """Write the clean subject with cards pasted in; returns {frame: card mask} of the occluded frames."""
    from nbskit.data.subject import Subject, SubjectWriter

    subject = Subject.load(clean)
    train = set(subject.indices("train").tolist())
    cards = {}
    with SubjectWriter(out, subject.intrinsics, subject.aabb, subject.expression_names,
                       background=subject.background(), extra=subject.extra) as writer:
        for index, frame in enumerate(subject.frames):
            image, mask = subject.load_image(index), subject.load_mask(index)
            card = None
            if index in train and index % OCCLUDED_EVERY == 0:
                card = card_mask(frame.mouth_box, *mask.shape)
                image[card] = CARD_COLOUR
                mask = np.maximum(mask, card)  # the card is in front of the head: a mask drawn from pixels holds it
                cards[index] = card
            writer.add_frame(image, mask, frame.transform_matrix, frame.expression, frame.split,
                             face_box=frame.face_box, mouth_box=frame.mouth_box,
                             ignore=card if with_ignore else None)
    return cards


def card_psnr(subject_root, clean_root, cards: dict[int, np.ndarray]) -> float:
    """Mean PSNR inside the cards of a model trained on ``subject_root``, against the clean frames."""
    from nbskit.data.subject import Subject
    from nbskit.train.presets import make_config
    from nbskit.train.region_metrics import masked_psnr
    from nbskit.train.trainer import Trainer

    trainer = Trainer(Subject.load(subject_root), make_config("cpu-smoke", STEPS), progress=False, device="cpu")
    trainer.fit()
    clean = Subject.load(clean_root)
    background = clean.background()
    values = []
    for index, card in cards.items():
        row = int(np.flatnonzero(trainer.train_frames.indices == index)[0])
        rendered = trainer.render_frame(trainer.train_frames, row)["rgb"].clamp(0, 1)
        mask = clean.load_mask(index)[..., None]
        truth = torch.from_numpy(mask * clean.load_image(index) + (1 - mask) * background)
        values.append(masked_psnr(rendered, truth, torch.from_numpy(card)))
    return float(np.mean(values))


def test_ignored_card_renders_the_face_behind_it(clean_subject, tmp_path):
    from nbskit.data.subject import Subject

    cards = occluded_copy(clean_subject, tmp_path / "ignored", with_ignore=True)
    occluded_copy(clean_subject, tmp_path / "baked", with_ignore=False)
    ignored = Subject.load(tmp_path / "ignored")
    assert len(cards) >= 15 and sum(f.ignore_path is not None for f in ignored.frames) == len(cards)
    assert not Subject.load(tmp_path / "baked").has_ignore

    with_mask = card_psnr(tmp_path / "ignored", clean_subject, cards)
    without_mask = card_psnr(tmp_path / "baked", clean_subject, cards)
    # showing the card itself would be far from the truth ...
    clean = Subject.load(clean_subject)
    card_error = np.mean([np.mean((clean.load_image(i)[card] - np.array(CARD_COLOUR)) ** 2) for i, card in cards.items()])
    assert -10 * np.log10(card_error) < with_mask
    # ... and the model told to ignore it renders the face behind it better than the one that is not
    assert with_mask > without_mask + 1.0, (with_mask, without_mask)
