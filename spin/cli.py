"""The `spin` command. Each verb lives in its own module exposing HELP, EXAMPLE,
add_arguments(parser) and main(args) -> int. `spin VERB ...` imports only that verb's
module; `spin --help` imports them all for their HELP lines, none of which imports torch."""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

from spin.errors import SpinError

# verb -> module. The verbs are a contract (DESIGN.md): change them only through an issue.
VERBS = {
    "run": "spin.pipeline.command",
    "plan": "spin.pipeline.plan_command",
    "generate": "spin.generate.command",
    "train": "spin.train.command",
    "eval": "spin.eval.command",
    "report": "spin.report.command",
    "compare": "spin.report.compare_command",
    "cite": "spin.report.citation",
    "bench": "spin.bench",
    "inspect": "spin.inspection",
}


def build_parser(verbs=None) -> argparse.ArgumentParser:
    """The parser of `spin` with the given verbs (default: all of them)."""
    parser = argparse.ArgumentParser(
        prog="spin",
        description="Self-play fine-tuning (SPIN, T-SPIN): run, evaluate and report replications.",
        epilog="example:\n  spin run replication/tiny.yaml   "
        "(the CPU demo: SFT, SPIN and T-SPIN at toy scale, then its table)\n"
        "  spin VERB --help                 (each verb's options and an example)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb in verbs or VERBS:
        module = importlib.import_module(VERBS[verb])
        p = sub.add_parser(
            verb,
            help=module.HELP,
            description=module.HELP,
            epilog=f"example:\n  {module.EXAMPLE}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(_module=module, _parser=p)
    return parser


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """parser.parse_args, but an unknown option is reported by the verb's parser, with the
    verb's usage line (argparse's subparsers pass unknown options up to `spin`'s own parser,
    whose usage says nothing about the verb)."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        getattr(args, "_parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _flush_denormals() -> None:
    """Flush denormal floats to zero before torch starts its CPU thread pool: the flag is
    per thread and new pool threads copy it from this one. Sigmoid losses on summed
    log-probs push gradients below 1e-38, which made the CPU backward ~4x slower."""
    import torch

    torch.set_flush_denormal(True)


def _verb_of(argv: list[str]) -> str | None:
    return argv[0] if argv and argv[0] in VERBS else None


def run_verb(argv: list[str]) -> None:
    """Run `spin VERB ARGS...` in this process as the command line would, but let its errors
    propagate (the pipeline runs its stages' printed commands this way)."""
    args = parse(build_parser([argv[0]]), argv)
    code = int(args._module.main(args) or 0)
    if code:
        raise SpinError(f"spin {argv[0]} exited {code}")


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(sys.argv[1:] if argv is None else list(argv))
    except BrokenPipeError:
        # The reader went away (`spin report --reported | head -1`): stop quietly, as the
        # Python docs advise (signal module, "Note on SIGPIPE"): point stdout at devnull so
        # the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _main(argv: list[str]) -> int:
    verb = _verb_of(argv)
    parser = build_parser([verb] if verb else None)
    args = parse(parser, argv)
    if not getattr(args, "_module", None):
        parser.print_help()
        return 0
    if args.verb in ("run", "train", "bench", "generate", "eval"):
        _flush_denormals()
    try:
        return int(args._module.main(args) or 0)
    except SpinError as e:
        print(f"spin {args.verb}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise
    except OSError as e:
        if e.errno not in _USER_FS_ERRORS:
            raise
        # the user's file system refuses (read-only output folder, full disk): not a bug
        where = f": {e.filename}" if e.filename else ""
        print(f"spin {args.verb}: error: {e.strerror}{where}", file=sys.stderr)
        return 2


_USER_FS_ERRORS = {
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.ENOTDIR,
}


if __name__ == "__main__":
    sys.exit(main())
