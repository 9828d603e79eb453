"""The `navixy-panel` command and `python -m navixy_panel`.

A launcher that loads the command itself, so that Ctrl-C while the libraries load
(about a second on a busy machine) is one line and exit status 130 too, not a
traceback from the middle of an import."""

import sys


def main() -> None:
    try:
        from navixy_panel.cli import main as command
    except KeyboardInterrupt:
        sys.stderr.write("navixy-panel: interrupted\n")
        sys.exit(130)
    command()


if __name__ == "__main__":
    main()
