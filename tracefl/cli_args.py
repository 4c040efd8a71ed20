"""The CLI's front: how a verb's parser is made (help with defaults and an example), numeric
arguments with bounds, the version line, and how an error a user can cause becomes one line.

Kept apart from ``cli.py`` (the verbs) so every verb gets the same treatment by construction.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Each option's default after its help (unless the help says it, or there is none to say);
    the description and example kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or action.required
            or default is None or default is False or default == argparse.SUPPRESS
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)"


def add_verb(sub: Any, name: str, summary: str, example: str) -> argparse.ArgumentParser:
    """A verb's parser: its one-line summary, its options' defaults shown, and an example.

    argparse %-formats a subcommand's help (not its description), so a literal % is escaped there.
    """
    return sub.add_parser(name, help=summary.replace("%", "%%"), description=summary, epilog=f"example:\n  {example}",
                          formatter_class=HelpFormatter)


def _bounded(kind: type, minimum: float, strict: bool) -> Callable[[str], Any]:
    relation = ">" if strict else ">="
    noun = "an integer" if kind is int else "a number"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if value != value or value in (float("inf"), float("-inf")) or (value <= minimum if strict else value < minimum):
            raise argparse.ArgumentTypeError(f"{text} is not allowed; allowed: {noun} {relation} {minimum:g}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def at_least(minimum: int) -> Callable[[str], int]:
    """An integer option's type: ``--threads 0`` or ``-3`` is refused by argparse in one line."""
    return _bounded(int, minimum, strict=False)


def from_zero(kind: type = float) -> Callable[[str], Any]:
    """A non-negative finite number (``--watch -1`` and ``nan`` refused)."""
    return _bounded(kind, 0, strict=False)


def a_probability(text: str) -> float:
    """A probability strictly between 0 and 1 (a test's family-wise error, say)."""
    value = from_zero(float)(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not allowed; allowed: a number > 0 and < 1")
    return value


a_probability.__name__ = "float"


def version_text() -> str:
    import tracefl

    return f"tracefl {tracefl.__version__}"


def one_line_errors(run: Callable[[], None], verb: str, debug: bool) -> int:
    """Run a verb; an error the user can cause ends as one line on stderr and its exit code.

    :class:`~tracefl.errors.TraceflError` (config 2, input and training 1) and file-system errors
    (missing, unreadable or unwritable paths, a full disk: 1) are one line naming what and where;
    Ctrl-C is 130. Anything else is a bug and keeps its traceback. ``--debug`` keeps every traceback.
    """
    from tracefl.errors import TraceflError

    try:
        run()
    except KeyboardInterrupt:
        return 130
    except TraceflError as exc:
        if debug:
            raise
        _say(verb, exc.kind, str(exc))
        return exc.exit_code
    except OSError as exc:
        if debug:
            raise
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        _say(verb, "error", f"{where}{exc.strerror or exc}")
        return 1
    return 0


def _say(verb: str, kind: str, message: str) -> None:
    line = " ".join(message.split())  # one line, whatever the message held
    print(f"tracefl {verb}: {kind}: {line}", file=sys.stderr)


def core_counts(text: str) -> list[int]:
    """A comma list of core counts (``2,8,32``), each an integer >= 1, refused in one line otherwise."""
    parse = at_least(1)
    parts = [part.strip() for part in text.split(",")]
    if not all(parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; allowed: integers >= 1 separated by commas")
    return [parse(part) for part in parts]
