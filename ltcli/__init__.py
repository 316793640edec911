"""ltcli: long-tailed image classification on any folder dataset, from the command line."""

__version__ = "0.1.0"
