"""The study behind each family: its seed text, title and the section each output stands for.

Both reports name the study and the section of it that a table, figure or video reproduces
(Snakemake's report uses the title as the category). A study is its parameters: a family missing
here still reports, under its own name, with every caption; :func:`register_study` (from any
module, e.g. a plug-in's) adds the study's seed, title and sections.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Study:
    """``sections`` maps an output (``table``, ``summary``, ``losses``, ``comparison``, ``samples``,
    ``errors``, ``loss-terms``, ``video``, ``apply``, or an extra table's name) to where the study
    shows its counterpart; ``tables`` says what each extra table of ``families.<f>.tables`` is."""

    family: str
    seed: str
    title: str
    sections: Mapping[str, str] = field(default_factory=dict)
    tables: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The study as both reports head it: seed number and title."""
        return f"{self.seed} {self.title}" if self.seed else self.title

    def section(self, output: str) -> str:
        if not self.seed:
            return "a family without a registered study (faceoff.report.studies)"
        return self.sections.get(output, "no counterpart in the study (added by faceoff)")


STUDIES: dict[str, Study] = {}
# The claims ledger gathers every study's conclusions: both reports head it with this, not a study.
CLAIMS_STUDY = "The claims ledger"


def register_study(s: Study) -> Study:
    """Name the study of family ``s.family`` in both reports."""
    if s.family in STUDIES and STUDIES[s.family] is not s:
        raise ValueError(f"family {s.family!r} has two studies")
    STUDIES[s.family] = s
    return s


for _study in (
    Study(
        "faceoff",
        "000",
        "CycleGAN Face-off",
        sections={
            "table": "section 5 (Experiments and Result Analysis, 5.1-5.6: one subsection per variant)",
            "summary": "section 5 (Experiments and Result Analysis)",
            "ssim_w": "sections 3.2 and 5.3 (SSIM loss: useful only within a range of weights)",
            "losses": "section 5.7 (Training Loss Comparison), figure 7",
            "comparison": "figure 6 (testing results on multiple settings)",
            "video": "appendix A.2 (More Generated Videos) and the video the study links",
            "apply": "appendix A.2 (More Generated Videos): the face-off video of whole frames",
        },
        tables={"ssim_w": "the SSIM-weight sweep (lambda_ssim 1e-4 to 0.1)"},
    ),
    Study(
        "portrait",
        "001",
        "Identity Aware Portrait Generation using CycleGAN",
        sections={
            "table": "sections 5 (Experiments and Results) and 6 (Comparison between the baseline "
            "model and proposed model)",
            "summary": "section 6 (Comparison between the baseline model and proposed model)",
            "lambda_p": "section 5.3 (Tuning of lambda_perceptual), its table of average SSIM",
            "final": "section 6 (Comparison between the baseline model and proposed model)",
            "comparison": "figure 1 (image, portrait from the baseline and from the proposed model)",
        },
        tables={
            "lambda_p": "the lambda_p sweep on 200 training images, scored on the validation split",
            "final": "the chosen lambda_p on the full training set against the baseline",
        },
    ),
    Study(
        "reenact",
        "002",
        "Face reenactment with cGANs: loss terms and identity preservation (DeepFaceImageSynthesis)",
        sections={
            "table": "sections 4-5 (Ablation study: the study compares its four runs qualitatively)",
            "summary": "section 5 (Results and Analysis, Ablation study)",
            "samples": "appendix A, figure 1 (ablation results: source, generated, target)",
            "errors": "appendix B, figure 2 (heatmaps of the absolute pixel error)",
            "loss-terms": "section 4 (Grouping loss terms)",
            "video": "section 5 (Results and Analysis)",
        },
    ),
    Study(
        "swap",
        "003",
        "Face Swap using Autoencoders & image-to-image Translation Techniques",
        sections={
            "table": "section VII (Results: autoencoders, CycleGAN, progressive CycleGAN)",
            "summary": "section VII (Results)",
            "losses": "section V (CycleGAN), figures 5 and 6 (discriminator and generator loss)",
            "comparison": "section VII (Results), figures 7-9",
            "video": "section VII (Results)",
            "apply": "section VII (Results): the swap on whole frames",
        },
    ),
    Study(
        "expression",
        "004",
        "FacePaint: An Exploration of Localized Transfer on Facial Expressions",
        sections={
            "table": "section 5 (Experiments and Results: style transfer, SA-GAN, CycleGAN)",
            "summary": "section 5 (Experiments and Results)",
            "losses": "figure 6 (training metrics for the CycleGAN)",
            "comparison": "figures 3-5 (style transfer, SA-GAN and CycleGAN outputs)",
            "video": "section 5 (Experiments and Results)",
            "classifier": "section 5 (the quantitative metric the study lacked)",
        },
    ),
):
    register_study(_study)


def study(family: str) -> Study:
    """The family's study; an unknown family is reported under its own name."""
    return STUDIES.get(family) or Study(family, "", family)
