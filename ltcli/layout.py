"""The folder names of ltcli's working layout, written once: raw datasets, split datasets, runs."""

from __future__ import annotations

RAW_DIR = "data_split"  # raw datasets, one folder of class folders each (`ltcli split` reads them)
DATASETS_DIR = "a_datasets"  # split datasets, NAME/{train,valid,test}/<class>/ (`--dataset NAME`)
LOGS_DIR = "logs"  # runs, logs/<model>/<dataset>/<objective>/<stamp>/
EXPORTS_DIR = "exports"  # exported models, exports/<model>-<dataset>-<objective>-<stamp>/ (`ltcli export`)
