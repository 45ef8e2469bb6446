"""What the paper itself reports for each claim we reproduce, cited by table, figure and section.

Source: Gao, Zhong, Xiang, Hong, Guo, Zhang, "Reconstructing Personalized Semantic Facial NeRF
Models From Monocular Video", ACM TOG 41(6), 2022. Numbers are copied from its Table 2; the
figures it draws (Fig. 8, 12, 13, 14) carry no numbers in the text, so for those we record what
they show, in our words.
"""

from __future__ import annotations

CITATION = "Gao et al., ACM TOG 41(6) 2022"

# Table 2 (self-reenactment on the last 500 frames of each of the authors' real videos, 512²,
# RTX 3090): mean (standard deviation) per method. MSE in 1e-3, L1 in 1e-2, SSIM in 1e-1 and
# LPIPS (VGG) in 1e-2 in the paper; stored here in plain units. NerFACE feeds the expression
# concatenated with a positional encoding to an MLP, the paper's other "concatenate" model (§4.3);
# the paper has no Table 2 row for its own concatenate baseline.
TABLE2 = {
    "ours": {"mse": (0.48e-3, 0.32e-3), "l1": (0.70e-2, 0.23e-2), "psnr": (34.15, 2.58),
             "ssim": (0.973, 0.013), "lpips": (0.0267, 0.0132)},
    "nerface": {"mse": (0.75e-3, 0.45e-3), "l1": (0.84e-2, 0.30e-2), "psnr": (32.24, 2.70),
                "ssim": (0.967, 0.015), "lpips": (0.0350, 0.0164)},
}
TABLE2_SOURCE = f"{CITATION}, Table 2 (real videos, 512², last 500 frames held out)"

# The figures' claims, paraphrased; none comes with numbers we could put in a column.
FIGURE_CLAIMS = {
    "fig8_speed": (f"{CITATION}, §4.3, Fig. 7–8: PSNR against training time on a real video; the blended model "
                   "learns faster than the concatenate baseline and NerFACE, and its lead is in the dynamic regions "
                   "(mouth, eyes), which the baseline learns only after the rigid head. No numbers are given besides "
                   "a plausible dynamic head within 20 minutes on one GPU."),
    "fig12_perceptual": (f"{CITATION}, §5.1, Fig. 12: the perceptual term improves rendering quality and "
                         "personal details (shown as images; no metric is reported)."),
    "fig13_grid": (f"{CITATION}, §5.2, Fig. 13–14: a grid updated from the neutral expression only mishandles "
                   "an open mouth, the expression-aware update does not; training with a grid reaches a higher "
                   "PSNR than without one (curves only, no numbers in the text)."),
}
