"""``python -m tomoinpaint``: the command line (see :mod:`tomoinpaint.cli`)."""

from .cli import main

if __name__ == "__main__":  # pragma: no cover
    main(prog_name="tomoinpaint")
