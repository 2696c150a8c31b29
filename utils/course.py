"""The course map: every lesson, its notebook, time estimate and the papers it is built on."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Lesson", "LESSONS"]


@dataclass(frozen=True)
class Lesson:
    number: str
    notebook: str
    title: str
    minutes: int  # reading + exercises, for a learner
    papers: str


LESSONS: tuple[Lesson, ...] = (
    Lesson("00", "00_welcome.ipynb", "Welcome: how the course works, warm-up", 20, "-"),
    Lesson("01", "01_adversarial_training.ipynb", "Adversarial training: FGSM, PGD, Madry AT, pyramid AT", 90,
           "Goodfellow et al. 2015; Madry et al. 2018; Herrmann et al. 2022"),
    Lesson("02", "02_adversarial_data.ipynb", "Attacks on text and the limits of collecting adversarial data", 105,
           "Wang et al. 2021 (AdvGLUE); Wallace et al. 2022"),
    Lesson("03", "03_ood_robustness.ipynb", "Out-of-distribution robustness: shifts, corruptions, augmentation", 85,
           "Hendrycks & Dietterich 2019; Hendrycks et al. 2020 (AugMix); Zhao et al. 2022 (OOD-CV)"),
    Lesson("04", "04_anomaly_detection.ipynb", "Anomaly detection and localisation", 75,
           "Hendrycks & Gimpel 2017; Li et al. 2021 (CutPaste); Schlueter et al. 2022 (NSA)"),
    Lesson("05", "05_interpretability.ipynb", "Feature visualisation vs natural exemplars, measured", 110,
           "Borowski et al. 2021; Zimmermann et al. 2021; Adebayo et al. 2018"),
    Lesson("06", "06_rl_ethics.ipynb", "RL ethics: a conscience for a text-game agent", 105,
           "Hendrycks et al. 2021 (Jiminy Cricket); Grinsztajn et al. 2021"),
    Lesson("07", "07_program_aided_math.ipynb", "Program-aided math reasoning", 90,
           "Cobbe et al. 2021 (GSM8K); Drori et al. 2022; Gao et al. 2022 (PAL)"),
    Lesson("08", "08_deception_negotiation.ipynb", "Deception in negotiation: when only the speaker knows the truth",
           90, "Peskov et al. 2020 (It Takes Two to Lie); Lewis et al. 2017; Burns et al. 2022; Azaria & Mitchell 2023"),
    Lesson("09", "09_hhh_assistant.ipynb", "A helpful, honest and harmless assistant: prompts, preference models, limits",
           90, "Askell et al. 2021; Bai et al. 2022; Ouyang et al. 2022"),
)
