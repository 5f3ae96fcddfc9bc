"""The train plugin's command line: ``largeforge train <method>|merge`` and ``largeforge data generate``.

Its parts, each in a module of its own: the options declared once for every method
(:mod:`~largeforge_train.cli_options`), what each method adds and how it loads data
(:mod:`~largeforge_train.cli_methods`), how settings resolve from defaults, files and flags
(:mod:`~largeforge_train.cli_settings`), the ``train`` group (:mod:`~largeforge_train.cli_train`),
the one command body (:mod:`~largeforge_train.cli_run`) and the ``data generate`` group
(:mod:`~largeforge_train.cli_generate`). The names below are
re-exported for code that imports them from here.
"""

from __future__ import annotations

from largeforge_train.cli_generate import build_generate
from largeforge_train.cli_settings import fit_to_data, print_config, trl_flags
from largeforge_train.cli_settings import split_config as _split_config
from largeforge_train.cli_train import TrainCommand, build_train

__all__ = ["TrainCommand", "_split_config", "build_generate", "build_train", "fit_to_data", "print_config", "trl_flags"]
