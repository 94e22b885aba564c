"""`python -m model ...` and `poembot-model ...`: see model/cli.py. Where the model's
packages are missing (a bot-only install), one line says which extra brings them."""

import sys

NEEDS = ("torch", "numpy", "safetensors")  # the model's packages: poembot[worker]


def main() -> int:
    try:
        from .cli import main as cli_main
    except ModuleNotFoundError as e:
        if e.name not in NEEDS:
            raise
        print(
            f"poembot-model needs the model's packages ({e.name} is not installed): "
            "pip install 'poembot[worker]' (and 'poembot[train]' to train)",
            file=sys.stderr,
        )
        return 2
    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
