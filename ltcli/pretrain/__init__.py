"""Self-supervised pre-training (`ltcli pretrain`): learn a backbone from the training images without
their labels, then train a classifier from it with `ltcli train --init-from RUN`.

Yang & Xu, "Rethinking the Value of Labels for Improving Class-Imbalanced Learning", NeurIPS 2020,
Sec. 4 (self-supervised pre-training, SSP): a pretext task on the imbalanced training set itself gives
a better starting point for any long-tail method. Two pretext tasks (`methods.PRETEXTS`): rotation
prediction (Gidaris et al., ICLR 2018) and MoCo (He et al., CVPR 2020).

config.py    PretrainConfig: every option and every check on values
rotation.py  rotation prediction: the rotated batch and the 4-way head
views.py     two augmented views of a batch, drawn on its device (MoCo's input)
moco.py      MoCo from lightly's parts (imported only when used: the `ssl` extra)
parts.py     what a pretext task gives the engine: network, objective, batches; its state for checkpoints
methods.py   method name -> pretext task
assemble.py  build_pretraining(config) -> Pretraining: data, backbone, pretext, optimizer, schedule
run.py       pretrain / resume_pretraining: the story of a run (the engine's loop, persist and logger)
"""
