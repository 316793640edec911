"""Allow `python -m ltcli` (and `torchrun -m ltcli`)."""

from ltcli.cli import main

if __name__ == "__main__":
    main()
